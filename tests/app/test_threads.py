"""A worker's CPU threads: one per usable core (affinity, cgroup quota) unless WORKER_THREADS
says otherwise, and a passive OpenMP wait policy in the environment the worker starts with."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.threads import cpus_usable, threads_count, threads_env

NO_CGROUP = Path("/nonexistent/cpu.max")
CORES = len(os.sched_getaffinity(0))


def _cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def test_without_a_quota_every_core_of_the_affinity() -> None:
    assert cpus_usable(cpu_max=NO_CGROUP) == CORES


def test_affinity_narrows_the_count() -> None:
    code = (
        "import os; from pathlib import Path; from app.threads import cpus_usable;"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "print(cpus_usable(cpu_max=Path('/nonexistent')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max 100000\n", CORES),  # unlimited
        ("50000 100000\n", 1),  # half a core still needs a thread
        ("100000 100000\n", 1),
        (f"{CORES * 100000} 100000\n", CORES),
        (f"{CORES * 400000} 100000\n", CORES),  # a quota above the affinity: the affinity
        ("garbage\n", CORES),
        ("", CORES),
    ],
)
def test_cgroup_quota_caps_the_count(tmp_path: Path, text: str, expected: int) -> None:
    assert cpus_usable(cpu_max=_cpu_max(tmp_path, text)) == expected


def test_the_setting_overrides_the_cores(tmp_path: Path) -> None:
    one_core = _cpu_max(tmp_path, "100000 100000\n")
    assert threads_count(setting=0, cpu_max=one_core) == 1
    assert threads_count(setting=3, cpu_max=one_core) == 3


def test_env_sets_the_count_and_keeps_an_operators_wait_policy() -> None:
    env = threads_env(setting=3, environ={"PATH": "/bin", "OMP_NUM_THREADS": "8"})
    assert env == {
        "PATH": "/bin",
        "OMP_NUM_THREADS": "3",
        "MKL_NUM_THREADS": "3",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    assert threads_env(setting=1, environ={"OMP_WAIT_POLICY": "active"})["OMP_WAIT_POLICY"] == (
        "active"
    )


def test_torch_started_in_that_env_uses_that_many_threads() -> None:
    code = "import torch; print(torch.get_num_threads())"
    env = threads_env(setting=1, environ=os.environ)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"


def _environ(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode().split("=", 1) for e in entries if b"=" in e)


def test_the_worker_starts_with_its_threads_set_and_without_torch(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "RUN_LEASE_SECONDS": "3600",  # no orphan recovery during the test
        "WORKER_THREADS": "1",
    }
    env.pop("OMP_WAIT_POLICY", None)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while b"ready." not in log.read_bytes():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        # `celery` replaced `atelier` in the same process, which runs the tasks (solo pool).
        environ = _environ(worker.pid)
        assert environ["OMP_NUM_THREADS"] == "1"
        assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
        # No torch before the first task: it will read that environment when it loads.
        assert "libtorch" not in Path(f"/proc/{worker.pid}/maps").read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
