"""The web process is `app/` alone: it never imports the worker, nor the model stack."""

import ast
import subprocess
import sys
from pathlib import Path

from app.config import ROOT


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_of_app_imports_the_worker() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.split(".")[0] == "worker"
        )
        for path in sorted((ROOT / "app").rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_web_process_loads_neither_the_worker_nor_torch() -> None:
    code = (
        "import app.main, sys; app.main.create_app(); "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'worker', 'torch', 'transformers'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
