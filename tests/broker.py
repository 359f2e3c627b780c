"""What waits in a broker's queues: read straight from the broker (Redis lists, or the SQLite
broker's tables), without a worker, to see which task went to which queue."""

import base64
import json
import sqlite3
from typing import Any

import redis

from app.jobs import QUEUES


def queued(url: str) -> list[tuple[str, str, list[Any]]]:
    """(queue, task name, args) of every message waiting, queue by queue, oldest first."""
    payloads = _redis(url) if url.startswith("redis") else _sqlite(url)
    found = []
    for queue, payload in payloads:
        message = json.loads(payload)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((queue, message["headers"]["task"], args))
    return found


def _redis(url: str) -> list[tuple[str, bytes]]:
    client = redis.Redis.from_url(url)
    # Kombu pushes on the left and pops on the right: the oldest message is last.
    return [(q, item) for q in QUEUES for item in reversed(client.lrange(q, 0, -1))]


def _sqlite(url: str) -> list[tuple[str, str]]:
    with sqlite3.connect(url.removeprefix("sqla+sqlite:///")) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'kombu_message'").fetchone():
            return []  # nothing was ever sent
        return db.execute(
            "SELECT q.name, m.payload FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id"
            " WHERE m.visible ORDER BY q.name, m.id"
        ).fetchall()
