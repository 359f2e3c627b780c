"""The base models inside a brand's navigation, and the run list's way to results."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from tests.app.evaluations.conftest import evaluated as evaluated  # the fixture
from tests.app.members.test_members import bearer_for


def test_base_models_keep_the_brand_navigation(
    client: TestClient, brand: Brand, session: Session
) -> None:
    creative = bearer_for(session, brand, "chloe@maison.test", Role.creative)
    page = client.get("/brands/maison/base-models", headers=creative)
    assert page.status_code == 200 and "Base models" in page.text
    assert 'class="brandname">Maison Test</a>' in page.text
    assert 'href="/brands/maison/base-models">Base models</a>' in page.text
    assert "Register a base model" not in page.text  # an operator's decision
    runs = client.get("/brands/maison/runs").text
    assert 'href="/brands/maison/base-models"' in runs
    assert client.get("/brands/other/base-models", headers=creative).status_code == 404


def test_the_run_list_links_each_succeeded_run_to_its_results(
    client: TestClient, brand: Brand, evaluated: int
) -> None:
    runs = client.get("/brands/maison/runs").text
    assert f'href="/runs/{evaluated}/results">results</a>' in runs
