"""PostgreSQL and Redis for the tests: the ones the environment names if they answer, else
throwaway servers that this test session starts and stops.

`ATELIER_TEST_POSTGRES` (a server URL without a database) and `ATELIER_TEST_REDIS` (a server URL
without a database number) name them; by default the machine's own on their usual ports. When
one does not answer, `services_ensure` starts a throwaway one from Debian's packages
(`initdb`/`postgres` of the newest `/usr/lib/postgresql/*/bin`, `redis-server`) in a temporary
folder on a free loopback port, and points the variable at it, so that xdist's workers, which
inherit the environment, share it. The session stops them at its end; were it killed, the
kernel ends them with it (a parent-death signal), and the next session removes their folder.
"""

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

POSTGRES_VARIABLE = "ATELIER_TEST_POSTGRES"
REDIS_VARIABLE = "ATELIER_TEST_REDIS"
POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS_DEFAULT = "redis://127.0.0.1:6379"
# Throwaway servers keep their files under folders named after the process that owns them.
FOLDER_PREFIX = "atelier-test-services-"
START_SECONDS = 60


def postgres_url() -> str:
    """The tests' PostgreSQL server, as SQLAlchemy names it, without a database."""
    return os.environ.get(POSTGRES_VARIABLE, POSTGRES_DEFAULT).rstrip("/")


def redis_url(db: int) -> str:
    """Database `db` of the tests' Redis server."""
    return f"{os.environ.get(REDIS_VARIABLE, REDIS_DEFAULT).rstrip('/')}/{db}"


def postgres_answers(server: str) -> bool:
    """Whether `server` accepts a connection to its `postgres` database (refused, unreachable
    and refused credentials are all a no)."""
    try:
        with psycopg.connect(_libpq(server) + "/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def redis_answers(server: str) -> bool:
    try:
        return bool(redis.Redis.from_url(f"{server}/0", socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


@dataclass
class Server:
    """A throwaway server: its process, its folder and the URL the tests reach it by."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    stop_signal: signal.Signals

    def stop(self) -> None:
        """Stop the server (then kill it, after a grace) and remove its files."""
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# The servers this process started and has not stopped: not the tests' leftovers.
RUNNING: list[Server] = []


def services_ensure(environ: MutableMapping[str, str], postgres: bool = True) -> list[Server]:
    """Start a throwaway PostgreSQL (when `postgres`) and Redis for those of `environ`'s servers
    that do not answer, and point `environ` at them. Returns the servers started."""
    started: list[Server] = []
    try:
        if postgres and not postgres_answers(environ.get(POSTGRES_VARIABLE, POSTGRES_DEFAULT)):
            started.append(postgres_start())
            environ[POSTGRES_VARIABLE] = started[-1].url
        if not redis_answers(environ.get(REDIS_VARIABLE, REDIS_DEFAULT)):
            started.append(redis_start())
            environ[REDIS_VARIABLE] = started[-1].url
    except BaseException:
        services_stop(started)
        raise
    return started


def services_stop(servers: list[Server]) -> None:
    for server in servers:
        server.stop()
        with contextlib.suppress(ValueError):
            RUNNING.remove(server)


def postgres_start() -> Server:
    """A fresh cluster (trust authentication, user `postgres`) on a free loopback port, tuned
    for tests rather than for keeping data: no fsync."""
    folder = _folder()
    data, port = folder / "data", _free_port()
    runs_as = _postgres_account()
    if runs_as is not None:  # initdb and postgres refuse to run as root
        os.chown(folder, runs_as.pw_uid, runs_as.pw_gid)
    binaries = postgres_binaries()
    _run(
        [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
         "--encoding=UTF8", "--locale=C", "--no-sync"],
        runs_as,
    )  # fmt: skip
    process = _spawn(
        [str(binaries / "postgres"), "-D", str(data), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
         "-c", "max_connections=300", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off"],
        folder / "postgres.log",
        runs_as,
        signal.SIGQUIT,  # immediate shutdown: the postmaster ends its backends too
    )  # fmt: skip
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    return _started(Server("postgres", url, process, folder, signal.SIGQUIT), postgres_answers)


def redis_start() -> Server:
    """A redis-server on a free loopback port, in memory only, with databases enough for
    every xdist worker's own."""
    folder, port = _folder(), _free_port()
    process = _spawn(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--databases", "64", "--dir", str(folder)],
        folder / "redis.log",
        None,
        signal.SIGTERM,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"
    return _started(Server("redis", url, process, folder, signal.SIGTERM), redis_answers)


def postgres_binaries() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them off the PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(
            "no PostgreSQL answers and none is installed to start: "
            "`make services` installs Debian's postgresql and redis-server"
        )
    return Path(initdb).parent


def _started(server: Server, answers: Callable[[str], bool]) -> Server:
    """`server` once it answers; stopped, with its log in the error, if it does not."""
    RUNNING.append(server)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if answers(server.url):
            return server
        if server.process.poll() is not None:
            break
        time.sleep(0.2)
    log = _log_tail(server.folder / f"{server.name}.log")
    services_stop([server])
    raise RuntimeError(f"the throwaway {server.name} did not start:\n{log}")


def _folder() -> Path:
    """A new folder for a server's files, once the folders of dead sessions are removed."""
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{FOLDER_PREFIX}*"):
        owner = stale.name.removeprefix(FOLDER_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=root))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postgres_account() -> pwd.struct_passwd | None:
    """Who runs PostgreSQL: ourselves, unless we are root (then Debian's `postgres`)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as missing:
        raise RuntimeError("as root, PostgreSQL runs as the `postgres` account: none") from missing


def _run(argv: list[str], runs_as: pwd.struct_passwd | None) -> None:
    done = subprocess.run(argv, capture_output=True, preexec_fn=_as(runs_as, None), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{done.stdout.decode()}{done.stderr.decode()}")


def _spawn(
    argv: list[str], log: Path, runs_as: pwd.struct_passwd | None, dies_with: signal.Signals
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        if runs_as is not None:
            os.chown(log, runs_as.pw_uid, runs_as.pw_gid)
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_as(runs_as, dies_with),
        )


def _as(runs_as: pwd.struct_passwd | None, dies_with: signal.Signals | None) -> Callable[[], None]:
    """What the child does before exec: become `runs_as`, then ask the kernel for `dies_with`
    when this process dies (after the change of user, which would clear it)."""
    parent = os.getpid()

    def prepare() -> None:
        os.setsid()  # a Ctrl-C in the terminal is the session's to handle, not the server's
        if runs_as is not None:
            os.setgroups([])
            os.setgid(runs_as.pw_gid)
            os.setuid(runs_as.pw_uid)
        if dies_with is not None and sys.platform == "linux":
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(dies_with))
            if os.getppid() != parent:  # the session died before the line above
                os.kill(os.getpid(), int(dies_with))

    return prepare


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _libpq(server: str) -> str:
    return server.replace("+psycopg", "").rstrip("/")


def _log_tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no log)"
