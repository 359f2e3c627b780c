"""Registering base models: operators only, local folders only inside MODELS_ROOTS (after
links and `..` are followed), hub ids only from the allow-list when there is one."""

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from app.config import Settings
from app.main import create_app
from tests.app.members.test_members import bearer_for

MODELS = "/api/v1/base-models"


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    (root / "tiny").mkdir(parents=True)
    return root


@pytest.fixture
def operator(settings: Settings, models_root: Path, operator_token: str) -> TestClient:
    app = create_app(settings.model_copy(update={"MODELS_ROOTS": [models_root]}))
    return TestClient(app, headers={"Authorization": f"Bearer {operator_token}"})


def test_a_brand_admin_may_not_register_a_base_model(
    app: FastAPI, brand: Brand, session: Session, models_root: Path
) -> None:
    headers = bearer_for(session, brand, "admin@maison.test", Role.admin)
    with TestClient(app, headers=headers) as admin:
        answer = admin.post(MODELS, json={"source": str(models_root / "tiny")})
    assert answer.status_code == 403


def test_a_folder_inside_the_models_root_is_accepted(
    operator: TestClient, models_root: Path
) -> None:
    with operator:
        answer = operator.post(MODELS, json={"source": str(models_root / "tiny")})
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("outside", ["/etc", "{root}/../..", "{root}/tiny/../../elsewhere"])
def test_a_folder_outside_the_models_root_is_refused(
    operator: TestClient, models_root: Path, outside: str
) -> None:
    with operator:
        answer = operator.post(MODELS, json={"source": outside.format(root=models_root)})
    assert answer.status_code == 422, answer.text
    assert "outside the models folders" in answer.text
    assert operator.get(MODELS).json()[-1]["source"] == "models/demo-captioner"


def test_a_link_out_of_the_models_root_is_refused(
    operator: TestClient, models_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret").mkdir()
    (models_root / "innocent").symlink_to(tmp_path / "secret")
    with operator:
        answer = operator.post(MODELS, json={"source": str(models_root / "innocent")})
    assert answer.status_code == 422 and "outside the models folders" in answer.text


def test_hub_ids_are_limited_by_the_allow_list(settings: Settings, operator_token: str) -> None:
    allowed = ["HuggingFaceTB/", "Qwen/Qwen2-VL-2B-Instruct"]
    app = create_app(settings.model_copy(update={"HUB_MODELS_ALLOWED": allowed}))
    with TestClient(app, headers={"Authorization": f"Bearer {operator_token}"}) as operator:
        for source in ("HuggingFaceTB/SmolVLM-256M", "Qwen/Qwen2-VL-2B-Instruct"):
            assert operator.post(MODELS, json={"source": source}).status_code == 202
        refused = operator.post(MODELS, json={"source": "Qwen/Qwen2-VL-7B-Instruct"})
    assert refused.status_code == 422 and "not among the hub models" in refused.text


def test_the_settings_read_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELS_ROOTS", "/srv/models, /data/models")
    monkeypatch.setenv("HUB_MODELS_ALLOWED", "HuggingFaceTB/")
    read = Settings()
    roots, allowed = read.MODELS_ROOTS, read.HUB_MODELS_ALLOWED
    assert roots == [Path("/srv/models"), Path("/data/models")]
    assert allowed == ["HuggingFaceTB/"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source": "\x00"}, "name a hub id"),
        ({"source": "models/\x00tiny"}, "name a hub id"),
        ({"source": "owner/\tname"}, "name a hub id"),
        ({"source": "owner/name", "revision": "main\x00"}, "printable characters"),
    ],
)
def test_control_characters_in_a_source_or_revision_are_refused(
    operator: TestClient, body: dict[str, str], message: str
) -> None:
    """Found by the schema fuzz: a NUL reached the path check and answered 500."""
    with operator:
        answer = operator.post(MODELS, json=body)
    assert answer.status_code == 422 and message in answer.text, answer.text
