"""Prometheus metrics for `GET /metrics`: request latency, and the state of the work.

Two kinds, for several web processes at once (uvicorn `--workers N`):

- Request latency is a histogram by route template (`/api/v1/runs/{run_id}`, never the raw
  path), counted in the process that answered. Each process has its own unless
  PROMETHEUS_MULTIPROC_DIR names a folder (empty at start, shared by the processes of one
  host) before the process starts: then every process writes its counts there and a scrape
  of any one of them adds up all of them (prometheus_client's multiprocess mode).
- Everything else is read at scrape time, from the database and the broker, so every process
  answers the same: runs and auto-tag jobs by status, the rate of those running, and how many
  messages wait in the `gpu` and `cpu` queues.
"""

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import bindparam, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.autotag.models import AutotagJob
from app.brands.models import Brand
from app.exports.models import ExportJob
from app.imports.models import ImportJob
from app.jobs import QUEUES
from app.leases import JobStatus
from app.runs.models import Run

log = logging.getLogger(__name__)

# The speed of at most this many running runs (and jobs), the latest: one a worker, and a bound
# on the series a scrape carries should rows be left running.
LATEST_RUNNING = 32
# kombu's Redis transport keeps a queue's messages of priority p > 0 under "name\x06\x16p".
_REDIS_PRIORITY_STEPS = (0, 3, 6, 9)

REQUEST_SECONDS = Histogram(
    "atelier_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status.",
    ["method", "route", "status"],
    registry=None,  # registered per scrape registry: see metrics_registry
)


class RequestTimer:
    """Time every request into REQUEST_SECONDS, labelled by the route that matched it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


class WorkCollector(Collector):
    """Gauges read at scrape time: runs and auto-tag jobs by status, the speed of those
    running, the messages waiting in each queue. A source that cannot be read is reported by
    `atelier_metrics_source_up` 0 rather than failing the scrape."""

    def __init__(self, sessions: sessionmaker[Session], broker_url: str) -> None:
        self.sessions = sessions
        self.queues = QueueDepth(broker_url)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "atelier_metrics_source_up",
            "Whether a source of metrics could be read.",
            labels=["source"],
        )
        try:
            with self.sessions() as session:
                families = list(_work_metrics(session))
            up.add_metric(["database"], 1)
            yield from families
        except Exception:
            log.exception("metrics: the database could not be read")
            up.add_metric(["database"], 0)
        try:
            depths = self.queues.depths()
            up.add_metric(["broker"], 1)
            if depths is not None:
                yield _queue_metric(depths)
        except Exception:
            log.exception("metrics: the broker could not be read")
            up.add_metric(["broker"], 0)
        yield up


def _work_metrics(session: Session) -> Iterator[Metric]:
    for table, name, what in (
        (Run, "atelier_runs", "Fine-tuning runs"),
        (AutotagJob, "atelier_autotag_jobs", "Auto-tag jobs"),
        (ImportJob, "atelier_imports", "Imports of large archives"),
        (ExportJob, "atelier_exports", "Export zips built in the background"),
    ):
        query = select(table.status, func.count()).group_by(table.status)
        counted = {status: n for status, n in session.execute(query)}
        gauge = GaugeMetricFamily(name, f"{what} by status.", labels=["status"])
        for status in JobStatus:
            gauge.add_metric([status.value], counted.get(status, 0))
        yield gauge
    yield _training_rates(session)
    yield _autotag_rates(session)


def _training_rates(session: Session) -> Metric:
    gauge = GaugeMetricFamily(
        "atelier_training_samples_per_second",
        "Training examples a second of the latest running runs, over their current attempt.",
        labels=["run_id", "brand"],
    )
    running = session.execute(
        select(Run.id, Brand.slug, Run.step, Run.total_steps, Run.eta_seconds, Run.settings)
        .join(Brand, Brand.id == Run.brand_id)
        .where(Run.status == JobStatus.running)
        .order_by(Run.id.desc())
        .limit(LATEST_RUNNING)
    )
    for run_id, brand, step, total, eta, settings in running:
        rate = samples_per_second(step, total, eta, settings)
        if rate is not None:
            gauge.add_metric([str(run_id), brand], rate)
    return gauge


def samples_per_second(
    step: int, total: int, eta: float | None, settings: dict[str, Any]
) -> float | None:
    """A running run's rate from its row: the worker's ETA is its mean time a step over this
    attempt times the steps left, and a step takes batch_size * grad_accum examples."""
    if not eta or total <= step:
        return None
    per_step = settings.get("batch_size", 1) * settings.get("grad_accum", 1)
    return float(per_step * (total - step) / eta)


def _autotag_rates(session: Session) -> Metric:
    gauge = GaugeMetricFamily(
        "atelier_autotag_images_per_second",
        "Images a second of the latest running auto-tag jobs, over their current attempt.",
        labels=["job_id", "brand"],
    )
    running = session.execute(
        select(AutotagJob.id, Brand.slug, AutotagJob.detail)
        .join(Brand, Brand.id == AutotagJob.brand_id)
        .where(AutotagJob.status == JobStatus.running)
        .order_by(AutotagJob.id.desc())
        .limit(LATEST_RUNNING)
    )
    for job_id, brand, detail in running:
        if (rate := (detail or {}).get("images_per_second")) is not None:
            gauge.add_metric([str(job_id), brand], float(rate))
    return gauge


def _queue_metric(depths: dict[str, int]) -> Metric:
    gauge = GaugeMetricFamily(
        "atelier_queue_messages",
        "Messages waiting in a queue of the broker (not yet taken by a worker).",
        labels=["queue"],
    )
    for queue, depth in depths.items():
        gauge.add_metric([queue], depth)
    return gauge


class QueueDepth:
    """How many messages wait in each queue: LLEN of the queue's lists on Redis, a count of
    the visible rows of the SQLite broker's message table; None for another broker. Each
    scrape opens its own connection and closes it (one every scrape interval)."""

    def __init__(self, broker_url: str) -> None:
        self.url = broker_url
        self.scheme = broker_url.split("://", 1)[0]

    def depths(self) -> dict[str, int] | None:
        if self.scheme in ("redis", "rediss"):
            return self._redis_depths()
        if self.scheme.startswith("sqla+"):
            return self._sql_depths()
        return None

    def _redis_depths(self) -> dict[str, int]:
        import redis

        with redis.Redis.from_url(self.url, socket_timeout=3, socket_connect_timeout=3) as r:
            pipe = r.pipeline(transaction=False)
            for queue in QUEUES:
                for priority in _REDIS_PRIORITY_STEPS:
                    pipe.llen(f"{queue}\x06\x16{priority}" if priority else queue)
            lengths = pipe.execute()
        steps = len(_REDIS_PRIORITY_STEPS)
        return {q: sum(lengths[i * steps : (i + 1) * steps]) for i, q in enumerate(QUEUES)}

    def _sql_depths(self) -> dict[str, int]:
        # kombu's tables appear with the first message; before that every queue is empty.
        query = text(
            "SELECT q.name, count(m.id) FROM kombu_queue q "
            "JOIN kombu_message m ON m.queue_id = q.id "
            "WHERE m.visible AND q.name IN :names GROUP BY q.name"
        ).bindparams(bindparam("names", value=list(QUEUES), expanding=True))
        engine = create_engine(self.url.removeprefix("sqla+"), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                if not engine.dialect.has_table(connection, "kombu_message"):
                    return dict.fromkeys(QUEUES, 0)
                counted = {name: int(n) for name, n in connection.execute(query)}
        finally:
            engine.dispose()
        return {queue: int(counted.get(queue, 0)) for queue in QUEUES}


def metrics_registry(work: WorkCollector) -> CollectorRegistry:
    """What a scrape reports: this process's latency histogram, or with
    PROMETHEUS_MULTIPROC_DIR that of every process of the folder, and the work gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
    registry.register(work)
    return registry
