"""The Dockerfile, docker-compose.yml and .env.example cannot be run here (no container engine):
check them against the compose specification's schema and keep them true to the code — every
variable they set is a setting, every command they run exists, and only the worker image
carries torch."""

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from app.cli import main
from app.config import Settings
from app.jobs import QUEUES

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "vendor" / "compose-spec.json"

# Variables an Atelier container may be given that are not settings: boto3's credentials and
# region (the S3 blob store), and the standard ones of the libraries and runtimes underneath.
STANDARD_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "HF_HOME",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
}
# What the code reads from the checkout at run time (ROOT of app/config.py).
RUN_TIME_FILES = ("alembic.ini", "app", "worker", "migrations", "templates", "static", "models")
INTERPOLATION = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def _atelier_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run an image built from this repository."""
    return {name: s for name, s in compose["services"].items() if "build" in s}


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _interpolated(compose: dict[str, Any]) -> set[str]:
    """The variables docker compose substitutes in the file ($$ is a literal dollar)."""
    found = set()
    for text in _strings(compose):
        for braced, _, _, bare in INTERPOLATION.findall(text):
            if braced or bare:
                found.add(braced or bare)
    return found


def _interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's substitution: ${V}, ${V:-default}, ${V-default}, ${V:?error}, $V, $$."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        value = values.get(name)
        unset = value is None if operator in ("-", "?") else not value
        if operator and unset:
            if operator.endswith("?"):
                raise AssertionError(f"{name} unset: {argument}")
            return argument or ""
        return value or ""

    return INTERPOLATION.sub(one, text)


def _schema_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].startswith("https://json-schema.org/draft-07/")
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_compose_file_is_valid_by_the_compose_specification() -> None:
    validator = _schema_validator()
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(_compose())
    ]
    assert errors == []


def test_the_schema_check_refuses_a_broken_compose_file() -> None:
    """The vendored schema does refuse what docker compose would (not an empty schema)."""
    validator = _schema_validator()
    broken = _compose()
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["worker"]["deploy"]["resources"]["reservations"]["gpus"] = 1
    assert len(list(validator.iter_errors(broken))) >= 2


def test_the_compose_file_runs_the_production_shape() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "minio",
        "bucket",
        "migrate",
        "web",
        "cpu",
        "worker",
    }
    # One-offs run to completion before what needs them; servers are waited on until healthy.
    for one_off in ("bucket", "migrate"):
        assert services[one_off]["restart"] == "no"
    for name in ("postgres", "redis", "minio", "web", "cpu", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name, service in services.items():
        for needed, rule in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully"
                if needed in ("bucket", "migrate")
                else "service_healthy"
            )
            assert rule == {"condition": expected}, (name, needed)
    assert "healthz" in " ".join(services["web"]["healthcheck"]["test"])
    # Workers scale (`--scale worker=N`): no fixed name, no host port.
    for name in ("cpu", "worker"):
        assert "container_name" not in services[name] and "ports" not in services[name], name
    assert services["cpu"]["build"]["target"] == "web", "the light worker needs no torch"
    assert services["worker"]["build"]["target"] == "worker"
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_data_lives_in_named_volumes() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in declared, f"{name}: {volume} is not a named volume"
    assert {"pgdata", "redisdata", "miniodata"} <= declared


def test_atelier_services_set_only_real_settings() -> None:
    """Every variable given to an Atelier container is a field of Settings (or boto3's or a
    runtime's, listed above), and with .env.example's values filled in, Settings accepts them."""
    compose = _compose()
    values = {**_env_example(), "SECRET_KEY": "s" * 64}
    values |= {name: "secret" for name, value in values.items() if not value}
    for name, service in _atelier_services(compose).items():
        env = service["environment"]
        unknown = set(env) - set(Settings.model_fields) - STANDARD_VARIABLES
        assert unknown == set(), f"{name}: not settings: {unknown}"
        resolved = {key: _interpolate(str(value), values) for key, value in env.items()}
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{k: v for k, v in resolved.items() if k in Settings.model_fields},
        )
        assert settings.ENVIRONMENT == "production"
        assert settings.DATABASE_URL == "postgresql+psycopg://atelier:secret@postgres:5432/atelier"
        assert settings.BROKER_URL == "redis://redis:6379/0"
        assert settings.STORAGE_URL == "s3://atelier?endpoint_url=http://minio:9000"
        assert resolved["AWS_ACCESS_KEY_ID"] == values["MINIO_ROOT_USER"]


def test_env_example_names_every_variable_the_compose_file_reads() -> None:
    compose, example = _compose(), _env_example()
    assert _interpolated(compose) == set(example)
    # Secrets are blank in the example (compose refuses to start without them), never published.
    required = {name for text in _strings(compose) for name in re.findall(r"\$\{(\w+):\?", text)}
    assert required == {"SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "METRICS_TOKEN"}
    assert all(example[name] == "" for name in required)


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for kw, argument in self.instructions if kw == keyword]


def _dockerfile() -> dict[str, Stage]:
    """The Dockerfile's stages by name: each one's base and instructions (continuations joined,
    comments left out)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, argument = line.partition(" ")
        keyword, argument = keyword.upper(), " ".join(argument.split())
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", argument, re.IGNORECASE)
            assert match, f"every stage is named: FROM {argument}"
            current = stages[match[2]] = Stage(match[2], match[1])
        elif current is not None:
            current.instructions.append((keyword, argument))
    return stages


def _installed(stages: dict[str, Stage], name: str) -> list[str]:
    """The RUN instructions whose results end up in stage `name`: its own, its bases' and
    those of the stages it copies from."""
    stage = stages[name]
    runs = list(stage.all("RUN"))
    sources = [stage.base] + [
        m[1] for copy in stage.all("COPY") if (m := re.search(r"--from=(\S+)", copy))
    ]
    for source in sources:
        if source in stages:
            runs += _installed(stages, source)
    return runs


def test_the_dockerfile_builds_a_web_image_without_torch_and_a_worker_image_with_it() -> None:
    stages = _dockerfile()
    assert {"web", "worker"} <= set(stages)
    web = " ".join(run for run in _installed(stages, "web") if "pip install" in run)
    worker = " ".join(run for run in _installed(stages, "worker") if "pip install" in run)
    assert ".[postgres]" in web
    assert "torch" not in web.lower() and "train" not in web
    assert "torch" in worker.lower() and ".[postgres,train]" in worker


def test_the_final_images_hold_no_build_tools_and_run_as_a_user() -> None:
    stages = _dockerfile()
    for name in ("web", "worker"):
        stage = stages[name]
        # Dependencies arrive built, from a build stage: nothing is installed or compiled here.
        for run in stage.all("RUN"):
            assert not re.search(r"\b(pip|apt-get|apt|gcc|make)\b", run), f"{name}: RUN {run}"
        assert "/opt/venv" in " ".join(stage.all("COPY"))
        users = stage.all("USER")
        assert users and users[-1] not in ("root", "0"), name
    assert "/healthz" in " ".join(stages["web"].all("HEALTHCHECK"))


def test_the_images_hold_what_the_app_reads_at_run_time() -> None:
    stages = _dockerfile()
    copied = {copy.split()[0] for copy in stages["code"].all("COPY")}
    assert set(RUN_TIME_FILES) <= copied
    for name in ("web", "worker"):
        assert "--from=code /srv/atelier /srv/atelier" in stages[name].all("COPY"), name
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(ignored) & {*RUN_TIME_FILES, "pyproject.toml", "README.md"}


def _atelier_argv() -> dict[str, list[str]]:
    """Every `atelier` command line the images and the compose services run, by where."""
    services = _atelier_services(_compose())
    argv = {f"service {n}": s["command"] for n, s in services.items()}
    for name, service in services.items():
        if (check := service.get("healthcheck", {}).get("test", []))[1:2] == ["atelier"]:
            argv[f"healthcheck of {name}"] = check[1:]
    for name, stage in _dockerfile().items():
        for cmd in stage.all("CMD"):
            argv[f"image {name}"] = json.loads(cmd)
    return argv


def test_every_command_is_a_real_atelier_command() -> None:
    """Each command line parses as `atelier` would parse it: a real subcommand, real options."""
    for where, argv in _atelier_argv().items():
        assert argv[0] == "atelier", where
        command: click.Command = main
        words = list(argv[1:])
        while isinstance(command, click.Group):
            assert words and words[0] in command.commands, f"{where}: {argv}"
            command = command.commands[words.pop(0)]
        try:
            command.make_context(argv[1], words)
        except click.UsageError as wrong:
            raise AssertionError(f"{where}: {argv}: {wrong}") from wrong


def test_compose_runs_a_worker_on_every_queue() -> None:
    """Each queue has a worker service: a job sent to one that none consumes waits for ever."""
    consumed: set[str] = set()
    for argv in _atelier_argv().values():
        if argv[1] == "worker":
            queues = argv[argv.index("--queues") + 1] if "--queues" in argv else "gpu"
            consumed |= set(queues.split(","))
    assert consumed == set(QUEUES)


def test_docker_compose_accepts_the_file() -> None:
    """docker compose's own check, where it is installed (it needs no engine)."""
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
    ):
        pytest.skip("docker compose is not installed here; the schema check above stands in")
    secrets = {"SECRET_KEY": "s" * 64, "POSTGRES_PASSWORD": "x", "MINIO_ROOT_PASSWORD": "x"}
    done = subprocess.run(
        [docker, "compose", "--env-file", ".env.example", "config", "--quiet"],
        cwd=ROOT,
        env={**os.environ, **secrets},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
