"""Benchmarks: `make bench` (or `python -m bench [--assets N] [--backend sqlite|postgresql]`)."""

from bench.gallery import main

main()
