"""Benchmarks: `make bench` runs them all; `python -m bench NAME [--help]` runs one."""

import sys

from bench import autotag, captions, contention, gallery, quality

BENCHMARKS = {
    "gallery": gallery.main,
    "captions": captions.main,
    "autotag": autotag.main,
    "contention": contention.main,
    "quality": quality.main,
}

name, *rest = sys.argv[1:] or ["all"]
if name == "all":
    for main in BENCHMARKS.values():
        main([])
elif name in BENCHMARKS:
    BENCHMARKS[name](rest)
else:
    sys.exit(f"usage: python -m bench [{'|'.join(BENCHMARKS)}|all] [options]")
