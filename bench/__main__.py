"""Benchmarks: `make bench` runs them all; `python -m bench NAME [--help]` runs one."""

import sys

from bench import autotag, captions, contention, gallery, gpu, load, quality, training

BENCHMARKS = {
    "gallery": gallery.main,
    "captions": captions.main,
    "autotag": autotag.main,
    "contention": contention.main,
    "quality": quality.main,
    "training": training.main,
}
# Not part of "all": it serves and trains for a minute and a half (`python -m bench load`).
# `gpu` needs a CUDA GPU (its --smoke runs anywhere, tiny).
EXTRA = {"load": load.main, "gpu": gpu.main}

name, *rest = sys.argv[1:] or ["all"]
if name == "all":
    for main in BENCHMARKS.values():
        main([])
elif name in BENCHMARKS or name in EXTRA:
    {**BENCHMARKS, **EXTRA}[name](rest)
else:
    sys.exit(f"usage: python -m bench [{'|'.join([*BENCHMARKS, *EXTRA])}|all] [options]")
