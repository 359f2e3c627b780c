"""Benchmarks: `make bench` runs them all; `python -m bench NAME [--help]` runs one.

`python -m bench` (all) runs each benchmark at the size given below, chosen so that all of them
take under 15 minutes on the project's 2-core machine; `python -m bench NAME` runs one at its
own defaults (often larger). Every run writes what it printed to bench/RESULTS.md, one section
per benchmark with the machine, the date and the command, replacing that benchmark's last run
and keeping the notes written below it (bench/results.py).
"""

import contextlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    autotag,
    captions,
    contention,
    gallery,
    gpu,
    imports,
    ingest,
    load,
    memory,
    metrics,
    quality,
    results,
    scaling,
    training,
)

BENCHMARKS: dict[str, Callable[[list[str]], None]] = {
    "gallery": gallery.main,
    "captions": captions.main,
    "autotag": autotag.main,
    "contention": contention.main,
    "imports": imports.main,
    "quality": quality.main,
    "metrics": metrics.main,
    "ingest": ingest.main,
    "memory": memory.main,
    "scaling": scaling.main,
    "training": training.main,
}
# The sizes `make bench` runs them at: about 13 minutes in all on 2 shared cores (the figures
# in RESULTS.md say how long each took), leaving room for `training` (about 4 minutes).
ALL_ARGS: dict[str, list[str]] = {
    "gallery": ["--assets", "100000", "--backend", "sqlite"],
    "captions": ["--images", "16", "--repeat", "1"],
    "autotag": ["--images", "48"],
    "contention": ["--steps", "15", "--repeat", "1"],
    "imports": ["--images", "200"],
    "quality": ["--sweep", "max_steps=150", "--new", "20"],
    "metrics": ["--rows", "5000"],
    "ingest": ["--images", "2000", "--small", "200", "--side", "512"],
    "memory": ["--measure-steps", "10"],
    "scaling": ["--requests", "160"],
    "training": ["--steps", "20"],
}
# Not part of "all": it serves and trains for a minute and a half (`python -m bench load`).
# `gpu` needs a CUDA GPU (its --smoke runs anywhere, tiny).
EXTRA = {"load": load.main, "gpu": gpu.main}
RESULTS = Path(__file__).with_name("RESULTS.md")


class _Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy."""

    def __init__(self, terminal: io.TextIOBase) -> None:
        self.terminal, self.kept = terminal, io.StringIO()

    def write(self, text: str) -> int:
        self.terminal.write(text)
        self.terminal.flush()
        return self.kept.write(text)


def run(name: str, argv: list[str]) -> float:
    tee = _Tee(sys.stdout)  # type: ignore[arg-type]
    started = time.perf_counter()
    with contextlib.redirect_stdout(tee):
        {**BENCHMARKS, **EXTRA}[name](argv)
    seconds = time.perf_counter() - started
    if "--smoke" not in argv:  # a smoke run proves the path works; its figures mean nothing
        command = " ".join(["python -m bench", name, *argv])
        run_text = results.run_text(command, tee.kept.getvalue(), seconds)
        results.results_record(RESULTS, name, run_text, [*BENCHMARKS, *EXTRA])
    return seconds


name, *rest = sys.argv[1:] or ["all"]
if name == "all":
    took = {}
    for bench_name in BENCHMARKS:
        print(f"\n=== {bench_name} ===", flush=True)
        took[bench_name] = run(bench_name, ALL_ARGS[bench_name])
    print("\n" + ", ".join(f"{n} {s:.0f}s" for n, s in took.items()))
    print(f"all benchmarks: {sum(took.values()) / 60:.1f} min")
elif name in BENCHMARKS or name in EXTRA:
    run(name, rest)
else:
    sys.exit(f"usage: python -m bench [{'|'.join([*BENCHMARKS, *EXTRA])}|all] [options]")
