"""bench/RESULTS.md across runs: a benchmark's new run replaces its last one, and the notes
people wrote below a run (or in a section that had none) stay, as does every other section."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

from bench.results import END, HEAD, results_record, run_text, sections_read

ORDER = ["gallery", "scaling", "training"]
WHEN = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _run(printed: str) -> str:
    return run_text(f"python -m bench x # {printed}", printed, 12.0, WHEN)


def test_a_new_run_replaces_the_last_and_keeps_the_notes_below_it(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results_record(results, "scaling", _run("first"), ORDER)
    results_record(results, "gallery", _run("pages"), ORDER)
    assert results.read_text().startswith(HEAD)
    assert list(sections_read(results.read_text())) == ["gallery", "scaling"]
    notes = "\n### Why the p95 is seconds\n\nSQLite's write lock, measured.\n"
    results.write_text(results.read_text() + notes)  # scaling is last: notes go under its run
    gallery = sections_read(results.read_text())["gallery"]

    results_record(results, "scaling", _run("second"), ORDER)
    sections = sections_read(results.read_text())
    assert "second" in sections["scaling"] and "first" not in sections["scaling"]
    assert sections["scaling"].index(END) < sections["scaling"].index("### Why the p95")
    assert "SQLite's write lock, measured." in sections["scaling"]
    assert sections["gallery"] == gallery, "another benchmark's section is left as it was"
    results_record(results, "scaling", _run("third"), ORDER)
    assert results.read_text().count("### Why the p95 is seconds") == 1


def test_sections_written_before_the_marker_keep_their_notes(tmp_path: Path) -> None:
    """A run recorded without the marker loses only its run; a section written by hand, with no
    run at all, is kept whole beneath the new run."""
    results = tmp_path / "RESULTS.md"
    legacy_run = "\n- command: `python -m bench scaling`\n- took: 81 s\n\n```\nold table\n```\n"
    results.write_text(
        f"{HEAD}\n## scaling\n{legacy_run}\n### Why\n\nkept\n"
        "\n## training\n\nTraining against the plain recipe, by hand.\n\n| a | b |\n"
    )
    results_record(results, "scaling", _run("new table"), ORDER)
    results_record(results, "training", _run("tokens/s"), ORDER)
    sections = sections_read(results.read_text())
    assert "old table" not in sections["scaling"] and "new table" in sections["scaling"]
    assert sections["scaling"].split(END)[1].strip() == "### Why\n\nkept"
    hand = sections["training"].split(END)[1]
    assert "Training against the plain recipe, by hand." in hand and "| a | b |" in hand
    assert sections["training"].index("tokens/s") < sections["training"].index(END)


def test_the_real_results_keep_every_note_when_each_benchmark_runs_again(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    shutil.copy(Path(__file__).parents[1] / "bench" / "RESULTS.md", results)
    before = results.read_text()
    subheadings = [line for line in before.splitlines() if line.startswith("### ")]
    order = list(sections_read(before))
    for name in order:
        results_record(results, name, _run(f"rerun of {name}"), order)
    after = results.read_text()
    assert [line for line in after.splitlines() if line.startswith("### ")] == subheadings
    assert list(sections_read(after)) == order
    for name, body in sections_read(after).items():
        assert f"rerun of {name}" in body.split(END)[0], name
