"""Load: concurrent clients browsing and uploading against `atelier serve` on loopback, on
PostgreSQL, while its worker trains a quick-demo run. Counts errors (any answer of 400 and up,
or no answer) and reports p50 and p99 per kind of request.

`python -m bench load [--clients 32] [--seconds 60]`; the test suite runs a shorter one.
"""

import argparse
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from PIL import Image

POSTGRES = os.environ.get("ATELIER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
PASSWORD = "load-test-password"


@dataclass
class Tally:
    """Latencies per kind of request, and the errors, shared by the clients."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, took: float, error: str | None) -> None:
        with self.lock:
            self.seconds[kind].append(took)
            if error:
                self.errors.append(f"{kind}: {error}")

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            kind: {"n": len(s), "p50_ms": _ms(s, 50), "p99_ms": _ms(s, 99)}
            for kind, s in sorted(self.seconds.items())
        }


def _ms(samples: list[float], q: int) -> float:
    ordered = sorted(samples)
    return round(1000 * ordered[min(len(ordered) - 1, len(ordered) * q // 100)], 1)


class Client:
    """One signed-in caller (a bearer token), over urllib: a new connection per request."""

    def __init__(self, base: str, token: str, tally: Tally) -> None:
        self.base, self.token, self.tally = base, token, tally

    def call(self, kind: str, path: str, body: bytes | None = None, ctype: str = "") -> bytes:
        headers = {"Authorization": f"Bearer {self.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        started, error, data = time.perf_counter(), None, b""
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            error = f"{exc.code} {path}"
        except OSError as exc:
            error = f"{type(exc).__name__} {path}: {exc}"
        self.tally.record(kind, time.perf_counter() - started, error)
        return data


def _png(rng: random.Random) -> bytes:
    image = Image.new("RGB", (64, 48), tuple(rng.randrange(256) for _ in range(3)))
    image.putpixel((rng.randrange(64), rng.randrange(48)), (rng.randrange(256), 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"'
            f"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def browse_and_upload(client: Client, run_id: int, until: float, seed: int) -> None:
    """What a person at the library does: pages, the gallery API, an asset, its thumbnail, the
    run's progress, and now and then an upload of a new photo."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        roll = rng.random()
        if roll < 0.15:
            body, ctype = _multipart(f"load-{seed}-{rng.random()}.png", _png(rng))
            client.call("upload", "/api/v1/brands/demo/assets", body, ctype)
        elif roll < 0.35:
            client.call("page", rng.choice(["/brands/demo", "/brands/demo/runs"]))
        elif roll < 0.45:
            client.call("run", f"/api/v1/runs/{run_id}")
        else:
            page = client.call("list", "/api/v1/brands/demo/assets?limit=24")
            items = json.loads(page or b'{"items": []}')["items"]
            if items:
                item = rng.choice(items)
                client.call("asset", f"/api/v1/assets/{item['id']}")
                client.call("thumbnail", item["thumbnail_url"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"atelier_load_{uuid.uuid4().hex[:10]}"
    admin_url = POSTGRES.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def served(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """`atelier serve` (web and its worker) on loopback; stopped, whole, at the end."""
    cli = [sys.executable, "-m", "app.cli"]
    for step in (["db", "upgrade"], ["demo"]):
        subprocess.run([*cli, *step], env=env, check=True, capture_output=True)
    with log.open("ab") as out:
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        healthy_wait(base)
        yield base
    finally:
        group_stop(server, timeout=60)


def group_stop(server: subprocess.Popen[bytes], *, timeout: float) -> None:
    """Stop a server started in a session of its own, and everything it started: SIGTERM to
    the group, SIGKILL after `timeout`."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def healthy_wait(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the server did not become healthy")


def _post_json(base: str, token: str, path: str, payload: object) -> dict[str, Any]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def training_run(base: str, token: str) -> int:
    """Freeze the demo brand's approved photos and queue a quick-demo run of the demo model."""
    dataset = _post_json(base, token, "/api/v1/brands/demo/datasets", {})
    request = urllib.request.Request(
        base + "/api/v1/base-models", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        model = json.loads(response.read())[0]
    run = _post_json(
        base,
        token,
        "/api/v1/brands/demo/runs",
        {"base_model": model["id"], "dataset_id": dataset["id"], "preset": "quick-demo"},
    )
    return int(run["id"])


def sign_in(base: str, email: str) -> str:
    form = urllib.parse.urlencode({"email": email, "password": PASSWORD}).encode()
    with urllib.request.urlopen(base + "/api/v1/auth/token", data=form, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


def load(clients: int, seconds: float, folder: Path) -> tuple[Tally, dict[str, Any]]:
    """Serve on PostgreSQL, start training, run the clients; the tally and the run's state."""
    tally = Tally()
    with postgres_database() as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BROKER_URL": f"sqla+sqlite:///{folder / 'broker.db'}",
            "STORAGE_URL": f"file://{folder / 'blobs'}",
            "DEMO_ADMIN_PASSWORD": PASSWORD,
        }
        with served(env, free_port(), folder / "serve.log") as base:
            token = sign_in(base, "admin@demo.atelier")
            run_id = training_run(base, token)
            _wait_running(Client(base, token, Tally()), run_id)
            until = time.monotonic() + seconds
            threads = [
                threading.Thread(
                    target=browse_and_upload, args=(Client(base, token, tally), run_id, until, i)
                )
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            run = json.loads(Client(base, token, Tally()).call("run", f"/api/v1/runs/{run_id}"))
    return tally, run


def _wait_running(client: Client, run_id: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = json.loads(client.call("run", f"/api/v1/runs/{run_id}"))
        if run["status"] == "running" and run["step"] > 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the run did not start training: {run['status']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        tally, run = load(args.clients, args.seconds, Path(folder))
    total = sum(len(s) for s in tally.seconds.values())
    errors, step = len(tally.errors), run["step"]
    print(f"{args.clients} clients, {args.seconds:.0f} s, {total} requests, {errors} errors;")
    print(f"the run trained to step {step} meanwhile")
    print("| kind | requests | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for kind, row in tally.summary().items():
        print(f"| {kind} | {row['n']} | {row['p50_ms']} | {row['p99_ms']} |")
    for error in tally.errors[:20]:
        print("error:", error)
    if tally.errors:
        sys.exit(1)
