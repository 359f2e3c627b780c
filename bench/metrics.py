"""The cost of one `GET /metrics` scrape, whose gauges are read from the database each time.

A fresh database (SQLite, then PostgreSQL) gets N runs and N auto-tag jobs, of which a handful
are running (as many as there would be workers); the baseline is the sign-in page, a small
page answered by the same application in the same run, so the ratio says what a scrape costs
next to the lightest request a person makes.
"""

import argparse
import tempfile
import uuid
from pathlib import Path

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.autotag.models import AutotagJob
from app.brands.models import Brand
from app.config import Settings
from app.datasets.models import DatasetVersion
from app.leases import JobStatus
from app.main import create_app
from app.migrate import db_upgrade
from app.runs.models import Run
from bench.timing import median_seconds

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
TOKEN = "bench"
RUNNING = 8
REPEAT = 15


def _status(i: int) -> JobStatus:
    if i < RUNNING:
        return JobStatus.running
    return JobStatus.failed if i % 7 == 0 else JobStatus.succeeded


def _fill(app: FastAPI, n: int) -> None:
    with app.state.sessionmaker.begin() as session:
        brand = Brand(slug="bench", name="Bench")
        session.add(brand)
        session.flush()
        dataset = DatasetVersion(
            brand_id=brand.id, version=1, content_hash="0" * 64, validation_fraction=0.2
        )
        session.add(dataset)
        session.flush()
        run = {
            "brand_id": brand.id,
            "base_model_id": 1,
            "dataset_id": dataset.id,
            "settings": {"batch_size": 2, "grad_accum": 4},
            "settings_hash": "0" * 64,
            "instruction": "Describe this product.",
            "step": 5,
            "total_steps": 10,
            "eta_seconds": 5.0,
        }
        session.execute(insert(Run), [{**run, "status": _status(i)} for i in range(n)])
        job = {"brand_id": brand.id, "run_id": 1, "asset_ids": [], "total": 1}
        jobs = [
            {**job, "status": _status(i), "detail": {"images_per_second": 3.0}} for i in range(n)
        ]
        session.execute(insert(AutotagJob), jobs)


def _measure(database_url: str, broker_url: str, n: int) -> tuple[float, float, int]:
    db_upgrade(database_url)
    config = Settings(DATABASE_URL=database_url, BROKER_URL=broker_url, METRICS_TOKEN=TOKEN)
    app = create_app(config)
    try:
        _fill(app, n)
        with TestClient(app) as client:
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            seconds = median_seconds(lambda: client.get("/metrics", headers=bearer), REPEAT)
            baseline = median_seconds(lambda: client.get("/login"), REPEAT)
            scrape = client.get("/metrics", headers=bearer)  # its histogram has both routes
            assert scrape.status_code == 200, scrape.text
        return seconds, baseline, len(scrape.content)
    finally:
        app.state.engine.dispose()


def _postgres(n: int, broker_url: str) -> tuple[float, float, int]:
    name = f"atelier_bench_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        return _measure(f"{POSTGRES}/{name}", broker_url, n)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench metrics", description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="runs, and as many jobs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        broker = f"sqla+sqlite:///{Path(folder) / 'broker.db'}"
        results = {
            "SQLite": _measure(f"sqlite:///{Path(folder) / 'atelier.db'}", broker, args.rows),
            "PostgreSQL": _postgres(args.rows, broker),
        }
    print(f"GET /metrics, {args.rows:,} runs and {args.rows:,} jobs, {RUNNING} of each running")
    print("| database | scrape | sign-in page (baseline) | ratio | scrape size |")
    print("| --- | --- | --- | --- | --- |")
    for name, (seconds, baseline, size) in results.items():
        print(
            f"| {name} | {seconds * 1000:.1f} ms | {baseline * 1000:.1f} ms "
            f"| {seconds / baseline:.1f}x | {size / 1024:.1f} KiB |"
        )
