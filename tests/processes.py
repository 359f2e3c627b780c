"""The processes tests start (servers, workers, browsers): finding them, and ending any that
outlive their test."""

import contextlib
import ctypes
import sys

import psutil

# What tests start: `atelier serve`/`worker` (`-m app.cli`), Celery workers, uvicorn, Chromium,
# throwaway Redis servers, moto's S3 server.
STARTED_BY_TESTS = ("app.cli", "celery", "uvicorn", "chromium", "redis-server", "moto.server")


def adopt_orphans() -> None:
    """Make this process the parent of its descendants' orphans (on Linux), so that a worker
    whose server died stays among `descendants(os.getpid())` instead of going to init."""
    if sys.platform == "linux":
        pr_set_child_subreaper = 36
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1)


def descendants(pid: int) -> list[psutil.Process]:
    """The live processes below `pid`, however deep (exited, unreaped ones left out)."""
    try:
        below = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in below if _alive(p)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return "(gone)"


def started_by_tests(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` that a test started (not pytest's or a library's own helpers)."""
    return [p for p in processes if any(name in command(p) for name in STARTED_BY_TESTS)]


def still_alive(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of `processes` still running after `timeout` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if _alive(p)]


def kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=5)
