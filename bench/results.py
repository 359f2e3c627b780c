"""bench/RESULTS.md: a section per benchmark, its latest run on top (command, date, machine,
what it printed) and, below the run, notes written by people, which a new run keeps."""

import os
import platform
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

HEAD = "# Benchmark results\n\nWritten by `python -m bench` (see bench/__main__.py).\n"
# Ends the run's part of a section; what follows it is notes, kept across runs.
END = "<!-- end of the run; notes below are kept when the benchmark runs again -->"
# A run recorded before the marker existed: the list and the fenced output, then notes.
_LEGACY_RUN = re.compile(r"\A\s*- command: .*?\n```\n.*?\n```\n", re.S)


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.machine()}, {cores} cores, {platform.python_version()}, load {load}"


def run_text(command: str, printed: str, seconds: float, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return (
        f"\n- command: `{command}`\n- date: {when:%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {machine()}\n- took: {seconds:.0f} s\n\n```\n{printed.rstrip()}\n```\n"
    )


def notes_of(body: str) -> str:
    """What people wrote in a section, below its run (all of it, if it has no run)."""
    if END in body:
        return body.split(END, 1)[1]
    if legacy := _LEGACY_RUN.match(body):
        return body[legacy.end() :]
    return body


def sections_read(text: str) -> dict[str, str]:
    sections = {}
    for part in text.split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        sections[title.strip()] = body
    return sections


def results_record(path: Path, name: str, run: str, order: Sequence[str]) -> None:
    """Put `run` in place of the last run of benchmark `name`, keeping its notes and every
    other section; the sections in `order`, any other after them."""
    sections = sections_read(path.read_text()) if path.exists() else {}
    notes = notes_of(sections.get(name, "")).strip("\n")
    sections[name] = f"{run}{END}\n" + (f"\n{notes}\n" if notes else "")
    titles = [n for n in order if n in sections] + [n for n in sections if n not in order]
    body = "".join(f"\n## {n}\n{sections[n].rstrip()}\n" for n in titles)
    path.write_text(HEAD + body)
