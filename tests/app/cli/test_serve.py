"""`atelier serve` stops its worker whatever stops it: SIGTERM or SIGINT (a terminal's Ctrl-C)
to its whole process group or to it alone, and even SIGKILL. Nothing of it outlives the stop."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests import corpus, processes

pytestmark = pytest.mark.processes
ATELIER = [sys.executable, "-m", "app.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(condition: object, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s\n{log.read_text()[-3000:]}")


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:
        return bool(response.status == 200)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`atelier serve` with its worker, embedded, in a session of its own (as a terminal's
    foreground job is a group of its own), the web app answering and the worker ready."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "STORAGE_URL": f"file://{tmp_path / 'blobs'}",
        "IMPORT_INLINE_MAX_FILES": "2",
    }
    subprocess.run([*ATELIER, "db", "upgrade"], env=env, check=True, capture_output=True)
    port, log = _free_port(), tmp_path / "serve.log"
    (tmp_path / "port").write_text(str(port))
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*ATELIER, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "/healthz", log)
        _wait(lambda: b" ready." in log.read_bytes(), "the worker", log)
        yield server, log
    finally:
        processes.kill(processes.descendants(server.pid))
        server.kill()
        server.wait()


@pytest.mark.parametrize(
    ("sig", "whole_group"),
    [
        (signal.SIGTERM, True),
        (signal.SIGINT, True),  # a terminal's Ctrl-C
        (signal.SIGTERM, False),
        (signal.SIGKILL, False),  # the worker dies with serve, by the kernel's hand
    ],
    ids=["sigterm-group", "sigint-group", "sigterm-serve", "sigkill-serve"],
)
def test_stopping_serve_stops_its_worker(
    serving: tuple[subprocess.Popen[bytes], Path], sig: signal.Signals, whole_group: bool
) -> None:
    server, log = serving
    tree = [psutil.Process(server.pid), *processes.descendants(server.pid)]
    assert any("celery" in processes.command(p) for p in tree), [processes.command(p) for p in tree]
    started = time.monotonic()
    if whole_group:
        os.killpg(server.pid, sig)
    else:
        server.send_signal(sig)
    server.wait(timeout=30)
    left = processes.still_alive(tree, timeout=10)
    took = time.monotonic() - started
    assert not left, [processes.command(p) for p in left]
    assert took < 15, f"{took:.1f}s to stop\n{log.read_text()[-3000:]}"
    if sig != signal.SIGKILL:
        assert "did not stop" not in log.read_text(), "the worker needed a kill"
    print(f"{sig.name} {'group' if whole_group else 'serve'}: all gone in {took:.2f}s")


def _call(url: str, token: str, body: bytes | None = None, kind: str = "") -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": kind} if kind else {})}
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _multipart(name: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
        "\r\nContent-Type: application/zip\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_serves_worker_imports_large_archives_too(
    serving: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    """The embedded default's one worker consumes both queues: an archive imported in the
    background (here, of more than 2 files) is done without another worker."""
    _, log = serving
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}"}
    created = subprocess.run(
        [*ATELIER, "user", "create", "op@atelier.test", "--superuser"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = created.stdout.split("token: ")[1].split()[0]
    base = f"http://127.0.0.1:{(tmp_path / 'port').read_text()}/api/v1"
    _call(f"{base}/brands", token, b'{"slug": "maison", "name": "Maison"}', "application/json")
    members = [(f"{i}.png", corpus.png(colour=(i, 9, 9))) for i in range(3)]
    body, kind = _multipart("files", "set.zip", corpus.zip_archive(members))
    queued = _call(f"{base}/brands/maison/assets", token, body, kind)
    job_id = queued["imports"][0]["id"]
    _wait(
        lambda: _call(f"{base}/imports/{job_id}", token)["status"] == "succeeded",
        "the import",
        log,
    )
    assert _call(f"{base}/imports/{job_id}", token)["accepted"] == 3
