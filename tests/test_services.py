"""On a machine without PostgreSQL or Redis running, a test session starts throwaway ones
(tests/services.py) and they end with it, even when it is killed."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from app.config import ROOT
from tests import services

pytestmark = pytest.mark.processes


def _nothing_there() -> dict[str, str]:
    """Server variables naming ports where nothing listens."""
    port = services._free_port()
    return {
        services.POSTGRES_VARIABLE: f"postgresql+psycopg://postgres@127.0.0.1:{port}",
        services.REDIS_VARIABLE: f"redis://127.0.0.1:{port}",
    }


def test_servers_that_do_not_answer_are_replaced_by_throwaway_ones_then_stopped() -> None:
    environ = _nothing_there()
    started = services.services_ensure(environ)
    try:
        assert [s.name for s in started] == ["postgres", "redis"]
        assert environ == {
            services.POSTGRES_VARIABLE: started[0].url,
            services.REDIS_VARIABLE: started[1].url,
        }
        assert services.postgres_answers(started[0].url)
        assert services.redis_answers(started[1].url)
    finally:
        services.services_stop(started)
    for server in started:
        assert server.process.returncode is not None
        assert not server.folder.exists()
    assert not services.postgres_answers(started[0].url)
    assert not services.redis_answers(started[1].url)


def test_servers_that_answer_are_used_as_they_are() -> None:
    environ = _nothing_there()
    started = services.services_ensure(environ, postgres=False)
    try:
        again = dict(environ)
        assert services.services_ensure(again, postgres=False) == []
        assert again == environ
    finally:
        services.services_stop(started)


SESSION = """
import json, os, sys, time
from tests import services
environ = json.loads(sys.argv[1])
started = services.services_ensure(environ)
report = {s.name: {"pid": s.process.pid, "url": s.url, "folder": str(s.folder)} for s in started}
with open(sys.argv[2] + ".part", "w") as out:
    json.dump(report, out)
os.rename(sys.argv[2] + ".part", sys.argv[2])
time.sleep(300)
"""


def test_throwaway_servers_end_with_a_killed_session(tmp_path: Path) -> None:
    report = tmp_path / "started.json"
    session = subprocess.Popen(
        [sys.executable, "-c", SESSION, json.dumps(_nothing_there()), str(report)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + services.START_SECONDS
        while not report.exists() and session.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        started = json.loads(report.read_text())
        assert services.postgres_answers(started["postgres"]["url"])
        assert services.redis_answers(started["redis"]["url"])
    finally:
        session.send_signal(signal.SIGKILL)  # no teardown, no atexit: only the kernel is left
        session.wait()
    for server in started.values():
        _wait_gone(server["pid"])
    assert not services.postgres_answers(started["postgres"]["url"])
    assert not services.redis_answers(started["redis"]["url"])
    # Their files are left behind, until the next session's first server sweeps them.
    folders = [Path(s["folder"]) for s in started.values()]
    assert all(f.exists() for f in folders)
    services.services_stop([services.redis_start()])
    assert not any(f.exists() for f in folders)


def _wait_gone(pid: int, timeout: float = 20) -> None:
    """Until `pid` has exited (this session, a subreaper, may have inherited it: reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} outlived the session that started it")
