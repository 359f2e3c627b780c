"""The README's layout names every package of app/ and every module of app/ and worker/."""

import re

from app.config import ROOT


def test_the_layout_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"[\w]+(?:\.py|/)", layout))
    domains = {f"{p.name}/" for p in (ROOT / "app").iterdir() if (p / "__init__.py").exists()}
    modules = {
        p.name
        for folder in ("app", "worker")
        for p in (ROOT / folder).glob("*.py")
        if p.name != "__init__.py"
    }
    assert (domains | modules) - named == set()


def test_every_promise_names_a_test_that_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## What Atelier promises", 1)[1].split("\n## ", 1)[0]
    named, path = [], ""
    for reference in re.findall(r"`((?:T/|…)[^`]*::\w+)`", table):
        file, name = reference.split("::")
        path = path if file == "…" else file.replace("T/", "tests/", 1)
        named.append((path, name))
    assert len(named) > 20
    for path, name in named:
        source = (ROOT / path).read_text()
        assert re.search(rf"def {name}\(", source), f"{path}::{name}"
