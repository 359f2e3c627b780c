"""Atelier across machines, tried on one: a web process, a cpu worker and two gpu workers, each
in a folder of its own, sharing only PostgreSQL, Redis and an S3-compatible bucket (moto's
server). The demo brand is seeded, two one-click runs are queued at once, and the script waits
for both and opens their results pages. Nothing is left running.

    python scripts/fleet_trial.py [--steps N]

It prints what each run did and which files each process left in its own folder.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.s3 import CREDENTIALS, MotoServer  # noqa: E402
from tests.servers import Redis, free_port  # noqa: E402

PASSWORD = "fleet-trial-password"


def _process(stack: ExitStack, name: str, argv: list[str], env: dict[str, str], home: Path):
    home.mkdir(parents=True)
    log = (home / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *argv],
        cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()

    stack.callback(stop)
    return process


class Api:
    """The API as the admin: paths relative to the web process."""

    def __init__(self, web: str, token: str) -> None:
        self.web, self.http = web, requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.web + path, timeout=60)

    def post(self, path: str, json: object = None) -> requests.Response:
        return self.http.post(self.web + path, json=json, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=0, help="max_steps of each run (0: preset)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="atelier-fleet-"))
    database = f"atelier_fleet_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
        admin.execute(f'CREATE DATABASE "{database}"')
        stack.callback(lambda: admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)'))
        redis = Redis(base)
        redis.start()
        stack.callback(redis.stop)
        moto = MotoServer().start()
        stack.callback(moto.stop)
        bucket = moto.bucket()
        port = free_port()
        env = {
            **os.environ,
            **CREDENTIALS,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
            "BROKER_URL": redis.url,
            "STORAGE_URL": f"s3://{bucket}?endpoint_url={moto.endpoint}",
            "MODELS_ROOTS": str(ROOT / "models"),
            "DEMO_ADMIN_PASSWORD": PASSWORD,
            "OMP_NUM_THREADS": "1",
        }
        subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, check=True)
        subprocess.run([sys.executable, "-m", "app.cli", "demo"], env=env, check=True)
        homes = {n: base / n for n in ("web", "cpu", "gpu-1", "gpu-2")}
        _process(stack, "web", ["serve", "--no-worker", "--port", str(port)], env, homes["web"])
        _process(stack, "cpu", ["worker", "--queues", "cpu"],
                 {**env, "WORK_DIR": str(homes["cpu"] / "work")}, homes["cpu"])  # fmt: skip
        for name in ("gpu-1", "gpu-2"):
            _process(stack, name, ["worker", "--queues", "gpu"],
                     {**env, "WORK_DIR": str(homes[name] / "work")}, homes[name])  # fmt: skip
        web = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if requests.get(f"{web}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        token = requests.post(
            f"{web}/api/v1/auth/token",
            data={"email": "admin@demo.atelier", "password": PASSWORD},
            timeout=60,
        ).json()["access_token"]
        api = Api(web, token)
        dataset = api.post("/api/v1/brands/demo/datasets").json()
        settings = {"max_steps": args.steps} if args.steps else {}
        started = time.monotonic()
        ids = [
            api.post(
                "/api/v1/brands/demo/runs",
                json={"dataset_id": dataset["id"], "preset": "quick-demo", "settings": settings},
            ).json()["id"]
            for _ in range(2)
        ]
        print(f"queued runs {ids} on dataset v{dataset['version']} ({dataset['counts']})")
        runs: dict[int, dict[str, Any]] = {}
        while len(runs) < 2 and time.monotonic() - started < 3600:
            for run_id in ids:
                run = api.get(f"/api/v1/runs/{run_id}").json()
                if run["status"] in ("failed", "cancelled"):
                    runs[run_id] = run
                elif run["status"] == "succeeded":  # then evaluated by the same task
                    results = api.get(f"/api/v1/runs/{run_id}/comparison")
                    if results.status_code == 200 and results.json()["status"] in (
                        "succeeded",
                        "failed",
                    ):
                        runs[run_id] = run
            time.sleep(5)
        for run_id, run in runs.items():
            page = api.get(f"/runs/{run_id}/results")
            comparison = api.get(f"/api/v1/runs/{run_id}/comparison").json()
            adapted = (comparison["summary"] or {}).get("adapted", {})
            print(
                f"run {run_id}: {run['status']}, attempt {run['attempt']}, "
                f"{run['started_at']} to {run['finished_at']}; results page {page.status_code}, "
                f"adapted tag F1 {adapted.get('tag_f1')}, BLEU-4 {adapted.get('bleu4')}"
            )
        print(f"both finished in {time.monotonic() - started:.0f} s")
        for name, home in homes.items():
            left = [str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()]
            log = (home / f"{name}.log").read_text()
            trained = log.count("Task atelier.run_train[") // 2  # received, then succeeded
            print(f"{name}: {trained} run(s) trained; files left in its folder: {left}")
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        print(f"objects in the bucket: {moto.client().list_objects_v2(Bucket=bucket)['KeyCount']}")


if __name__ == "__main__":
    main()
