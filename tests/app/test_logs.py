"""Request ids: taken from X-Request-ID when sane, else made, echoed in every answer, and
carried into the JSON log lines of a real server (LOG_FORMAT=json)."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.security import password_hash
from app.config import DEMO_DEFAULT_PASSWORD, Settings
from app.logs import request_id_of
from tests.servers import free_port


@pytest.mark.parametrize(
    "sent",
    ["4bf92f3577b34da6a3ce929d0e0e4736", "Root=1-67891233-abcdef012345678912345678", "req:42"],
)
def test_a_sane_request_id_is_kept_and_echoed(anon: TestClient, sent: str) -> None:
    response = anon.get("/login", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent", ["two words", 'quote"d', "x" * 129, "", "line\\nbreak", "caf\u00e9"]
)
def test_a_request_id_that_is_not_sane_is_replaced(sent: str) -> None:
    made = request_id_of(sent)
    assert made != sent and len(made) == 32 and int(made, 16) >= 0


def test_every_answer_has_its_own_id_errors_included(anon: TestClient) -> None:
    ids = {
        anon.get("/login").headers["X-Request-ID"],
        anon.get("/login").headers["X-Request-ID"],
        anon.get("/api/v1/brands").headers["X-Request-ID"],  # 401
        anon.get("/no/such/page").headers["X-Request-ID"],  # 404
    }
    assert len(ids) == 4


def _lines(log: Path) -> list[dict[str, Any]]:
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text[-3000:]}") from None
    return parsed


def _get(url: str, request_id: str) -> int:
    request = urllib.request.Request(url, headers={"X-Request-ID": request_id})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.processes
def test_json_logs_carry_the_request_id(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    """`atelier serve` with LOG_FORMAT=json, in development with the demo admin's published
    password and WORKERS_REMOTE set (development refuses nothing). Its broker is away, so that
    /healthz logs an error: that line, like uvicorn's access line, names the request."""
    session.add(
        User(email="admin@demo.atelier", password_hash=password_hash(DEMO_DEFAULT_PASSWORD))
    )
    session.commit()
    port, log = free_port(), tmp_path / "serve.log"
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "STORAGE_URL": settings.STORAGE_URL,
        "LOG_FORMAT": "json",
        "WORKERS_REMOTE": "true",
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while (
            time.monotonic() < deadline and b"Application startup complete" not in log.read_bytes()
        ):
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
        assert _get(f"http://127.0.0.1:{port}/healthz", "probe-42") == 503
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = _lines(log)
    probe = [line for line in lines if line.get("request_id") == "probe-42"]
    failed = next(line for line in probe if line["message"] == "health check failed")
    assert failed["level"] == "ERROR" and failed["logger"] == "app.main"
    assert "Traceback" in failed["exception"]
    access = next(line for line in probe if line["logger"] == "uvicorn.access")
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", 503)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
