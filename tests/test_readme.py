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
