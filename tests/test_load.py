"""A shorter load than `python -m bench load`: 16 clients for 15 seconds against `atelier serve`
on PostgreSQL while its worker trains. No error at all (timings are the benchmark's)."""

from pathlib import Path

import pytest

from bench.load import load

pytestmark = [pytest.mark.load, pytest.mark.processes]


def test_sixteen_clients_browsing_and_uploading_during_training_see_no_error(
    tmp_path: Path,
) -> None:
    tally, run = load(clients=16, seconds=15, folder=tmp_path)
    assert tally.errors == [], tally.errors[:20]
    assert sum(len(s) for s in tally.seconds.values()) > 100
    assert len(tally.seconds["upload"]) > 5
    assert run["status"] in ("running", "succeeded"), run["error"]
