"""`python -m bench gpu` runs on a GPU machine nobody here can reach; its --smoke mode runs the
same path (a SmolVLM built from its config, the plain recipe and Atelier's, each in its own
process, the MFU table) tiny, on the CPU, so that the benchmark does not first fail there."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes


def test_the_gpu_benchmark_runs_tiny_and_prints_its_table_last() -> None:
    results = Path(__file__).parent.parent / "bench" / "RESULTS.md"
    kept = results.read_text()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "gpu", "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header, _, *rows = done.stdout.strip().splitlines()[-4:]
    assert header.startswith("| image side | tiles | case | tokens/s | peak memory | MFU |")
    # 128 px: 2 * 2 tiles of 64 px and the global view.
    assert rows[0].startswith("| 128 | 5 | plain recipe (baseline) |")
    assert rows[1].startswith("| 128 | 5 | Atelier (defaults) |")
    assert results.read_text() == kept, "a smoke run is not a figure: RESULTS.md stays as it was"
