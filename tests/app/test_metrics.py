"""GET /metrics: who may read it, and what it says, from real requests, a real broker (the
SQLite one and a Redis on a free port) and, for several web processes, two real uvicorns
sharing PROMETHEUS_MULTIPROC_DIR."""

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.autotag.models import AutotagJob
from app.brands.models import Brand
from app.config import Settings
from app.jobs import celery_client
from app.leases import JobStatus
from app.main import create_app
from app.runs.models import Run
from tests.app.runs.test_api import DATASETS, RUNS, approve
from tests.servers import Redis, free_port

TOKEN = "a-scrapers-token-for-the-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


@pytest.fixture
def scraped(settings: Settings) -> Iterator[FastAPI]:
    """The application with a scraper's token set."""
    app = create_app(settings.model_copy(update={"METRICS_TOKEN": TOKEN}))
    yield app
    app.state.engine.dispose()


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_the_metrics_need_the_scrapers_token(scraped: FastAPI, operator_token: str) -> None:
    with TestClient(scraped, client=("127.0.0.1", 50000)) as client:
        assert client.get("/metrics").status_code == 401, "not even from loopback"
        as_person = client.get("/metrics", headers={"Authorization": f"Bearer {operator_token}"})
        assert as_person.status_code == 401, "a person's API token is not the scraper's"
        wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401
        assert value(scrape(client), "atelier_metrics_source_up", source="database") == 1


def test_without_a_token_only_loopback_reads_them_and_only_in_development(
    settings: Settings,
) -> None:
    development = create_app(settings)
    production = create_app(
        settings.model_copy(update={"ENVIRONMENT": "production", "SECRET_KEY": "s" * 40})
    )
    try:
        with TestClient(development, client=("127.0.0.1", 50000)) as local:
            assert local.get("/metrics").status_code == 200
            forwarded = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
            assert forwarded.status_code == 403, "a proxy on this machine forwarded it"
        with TestClient(development, client=("::1", 50000)) as local6:
            assert local6.get("/metrics").status_code == 200
        with TestClient(development, client=("192.0.2.7", 50000)) as remote:
            refused = remote.get("/metrics")
            assert refused.status_code == 403 and "METRICS_TOKEN" in refused.text
        with TestClient(production, base_url="https://testserver", client=("127.0.0.1", 1)) as c:
            assert c.get("/metrics").status_code == 403, "no token: nobody, in production"
    finally:
        development.state.engine.dispose()
        production.state.engine.dispose()


def test_latency_is_counted_by_route_template_not_by_path(
    scraped: FastAPI, operator_token: str
) -> None:
    bearer = {"Authorization": f"Bearer {operator_token}"}
    with TestClient(scraped, headers=bearer) as client:
        labels = {"method": "GET", "route": "/api/v1/runs/{run_id}", "status": "404"}
        before = value(scrape(client), "atelier_http_request_duration_seconds_count", **labels)
        for run_id in (7, 8, 9):
            assert client.get(f"/api/v1/runs/{run_id}").status_code == 404
        client.get("/no/such/page")
        after = scrape(client)
    assert (
        value(after, "atelier_http_request_duration_seconds_count", **labels) == (before or 0) + 3
    )
    routes = {dict(key[1]).get("route") for key in after}
    assert not any(route and route.startswith("/api/v1/runs/7") for route in routes)
    assert "unmatched" in routes, "a path no route matched counts under one label"


def test_runs_and_jobs_by_status_and_the_speed_of_those_running(
    scraped: FastAPI, operator_token: str, brand: Brand, session: Session
) -> None:
    bearer = {"Authorization": f"Bearer {operator_token}"}
    with TestClient(scraped, headers=bearer) as client:
        approve(client, 2)
        dataset = client.post(DATASETS).json()["id"]
        queued = client.post(RUNS, json={"dataset_id": dataset, "preset": "quick-demo"})
        assert queued.status_code == 202
        running = Run(
            brand_id=brand.id,
            base_model_id=1,
            dataset_id=dataset,
            status=JobStatus.running,
            settings={"batch_size": 2, "grad_accum": 4},
            settings_hash="0" * 64,
            instruction="Describe this product.",
            step=10,
            total_steps=40,
            eta_seconds=60.0,  # 30 steps left at 2 s a step, 8 examples a step: 4/s
        )
        session.add(running)
        session.flush()
        job = AutotagJob(
            brand_id=brand.id,
            run_id=running.id,
            asset_ids=[1, 2],
            total=2,
            status=JobStatus.running,
            detail={"images_per_second": 9.5},
        )
        session.add(job)
        session.commit()
        found = scrape(client)
    assert value(found, "atelier_runs", status="queued") == 1
    assert value(found, "atelier_runs", status="running") == 1
    assert value(found, "atelier_runs", status="failed") == 0, "every status, zeros too"
    assert value(found, "atelier_autotag_jobs", status="running") == 1
    rate = value(
        found, "atelier_training_samples_per_second", run_id=str(running.id), brand="maison"
    )
    assert rate == pytest.approx(4.0)
    speed = value(found, "atelier_autotag_images_per_second", job_id=str(job.id), brand="maison")
    assert speed == pytest.approx(9.5)
    # The queued run's message waits in the embedded broker's gpu queue: no worker runs here.
    assert value(found, "atelier_queue_messages", queue="gpu") == 1
    assert value(found, "atelier_queue_messages", queue="cpu") == 0
    assert value(found, "atelier_metrics_source_up", source="broker") == 1


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.processes
def test_queue_depth_on_redis_counts_the_gpu_and_cpu_queues(
    settings: Settings, redis_server: Redis
) -> None:
    app = create_app(
        settings.model_copy(update={"METRICS_TOKEN": TOKEN, "BROKER_URL": redis_server.url})
    )
    sender = celery_client(redis_server.url)
    try:
        with TestClient(app) as client:
            empty = scrape(client)
            for _ in range(3):
                sender.send_task("atelier.ping", queue="gpu")
            sender.send_task("atelier.ping", queue="cpu")
            sender.send_task("atelier.ping", queue="gpu", priority=5)  # another list on Redis
            found = scrape(client)
            redis_server.stop()  # the broker goes away: the scrape still answers, and says so
            away = scrape(client)
    finally:
        app.state.engine.dispose()
    assert value(empty, "atelier_queue_messages", queue="gpu") == 0
    assert value(found, "atelier_queue_messages", queue="gpu") == 4
    assert value(found, "atelier_queue_messages", queue="cpu") == 1
    assert value(away, "atelier_metrics_source_up", source="broker") == 0
    assert value(away, "atelier_metrics_source_up", source="database") == 1
    assert value(away, "atelier_queue_messages", queue="gpu") is None


def _uvicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app.main:serve_app",
             "--port", str(port), "--no-access-log"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _get(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return str(r.read().decode())


def _wait_until_serving(url: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer\n{log.read_text()[-2000:]}")


@pytest.mark.processes
def test_web_processes_sharing_a_multiprocess_folder_report_every_request(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": settings.BROKER_URL,
        "STORAGE_URL": settings.STORAGE_URL,
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    ports = [free_port(), free_port()]
    servers = [_uvicorn(env, port, tmp_path / f"web-{port}.log") for port in ports]
    try:
        for port in ports:
            _wait_until_serving(f"http://127.0.0.1:{port}/healthz", tmp_path / f"web-{port}.log")
        for port, count in zip(ports, (5, 7), strict=True):
            for _ in range(count):
                _get(f"http://127.0.0.1:{port}/login")
        each = [samples(_get(f"http://127.0.0.1:{p}/metrics", TOKEN)) for p in ports]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    labels = {"method": "GET", "route": "/login", "status": "200"}
    counts = [
        value(found, "atelier_http_request_duration_seconds_count", **labels) for found in each
    ]
    assert counts == [12, 12], "either process reports the requests both answered"
