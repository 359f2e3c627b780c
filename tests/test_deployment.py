"""The Dockerfile and compose file cannot be run here (no engine): check they stay true to the
code — every variable they set is a setting, every command they run exists."""

from pathlib import Path

import yaml
from click.testing import CliRunner

from app.cli import main
from app.config import Settings
from app.jobs import QUEUES

ROOT = Path(__file__).resolve().parent.parent


def test_compose_sets_only_real_settings_and_runs_real_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker"} <= set(services)
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert set(env) <= set(Settings.model_fields), f"{name}: unknown settings"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["BROKER_URL"].startswith("redis://")
    command = services["worker"]["command"]
    assert command[0] == "atelier"
    assert CliRunner().invoke(main, [*command[1:], "--help"]).exit_code == 0


def test_compose_runs_a_worker_on_every_queue() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    consumed = set()
    for service in services.values():
        command = service.get("command", [])
        if command[:2] == ["atelier", "worker"]:
            assert set(service["environment"]) <= set(Settings.model_fields)
            assert CliRunner().invoke(main, [*command[1:], "--help"]).exit_code == 0
            consumed |= set(command[command.index("--queues") + 1].split(","))
    assert consumed == set(QUEUES)


def test_dockerfile_copies_what_the_app_reads_at_run_time() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for path in ("app", "worker", "migrations", "templates", "static", "models", "alembic.ini"):
        assert f"COPY {path} " in dockerfile, path
    assert CliRunner().invoke(main, ["serve", "--help"]).output.count("--no-worker") == 1
    assert "postgres,train" in dockerfile, "the image runs the worker too"
