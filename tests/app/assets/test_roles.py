"""Review is the merchandiser's: a creative edits captions and tags, but may neither reject an
asset nor move an approved one back to pending, through the API or the asset page."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.accounts.service import membership_set, session_start, token_create, user_create
from app.assets.models import Asset, AssetStatus
from app.auth import SESSION_COOKIE
from app.brands.models import Brand
from app.config import Settings
from tests import corpus
from tests.app.accounts.helpers import csrf_of
from tests.conftest import PASSWORD

CAPTION = "Camille tote"


@pytest.fixture
def asset_id(client: TestClient, brand: Brand) -> int:
    """An asset of the brand, approved by its admin, with a caption."""
    files = [("files", ("a.png", corpus.png()))]
    body = client.post("/api/v1/brands/maison/assets", files=files).json()
    asset_id: int = body["accepted"][0]["asset"]["id"]
    edit = {"status": "approved", "caption": CAPTION}
    assert client.patch(f"/api/v1/assets/{asset_id}", json=edit).status_code == 200
    return asset_id


@pytest.fixture
def creative(session: Session, brand: Brand, settings: Settings) -> tuple[str, str]:
    """A creative of the brand: (bearer secret, session cookie)."""
    user = user_create(session=session, email="creative@maison.test", password=PASSWORD)
    membership_set(session=session, brand=brand, user=user, role=Role.creative)
    _, bearer = token_create(session=session, user=user, name="tests", days=1)
    cookie = session_start(session=session, user=user, address="", user_agent="", settings=settings)
    session.commit()
    return bearer, cookie


@pytest.fixture
def api(app: FastAPI, creative: tuple[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {creative[0]}"}) as client:
        yield client


@pytest.fixture
def browser(app: FastAPI, creative: tuple[str, str]) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(SESSION_COOKIE, creative[1])
        yield client


def _state(session: Session, asset_id: int) -> tuple[AssetStatus, str]:
    session.commit()  # a fresh snapshot
    asset = session.get_one(Asset, asset_id)
    session.refresh(asset)
    return asset.status, asset.caption


@pytest.mark.parametrize("status", ["rejected", "pending"])
def test_a_creative_may_not_reject_or_reopen_through_the_api(
    api: TestClient, asset_id: int, session: Session, status: str
) -> None:
    response = api.patch(f"/api/v1/assets/{asset_id}", json={"status": status, "caption": "x"})
    assert response.status_code == 403, response.text
    assert _state(session, asset_id) == (AssetStatus.approved, CAPTION)
    edit = api.patch(f"/api/v1/assets/{asset_id}", json={"caption": "Odette scarf"})
    assert edit.status_code == 200, "captions are the creative's to edit"
    assert _state(session, asset_id) == (AssetStatus.approved, "Odette scarf")


@pytest.mark.parametrize("action", ["reject", "reopen"])
def test_a_creative_may_not_reject_or_reopen_on_the_asset_page(
    browser: TestClient, asset_id: int, session: Session, action: str
) -> None:
    url = f"/brands/maison/assets/{asset_id}"
    token = csrf_of(browser.get(url).text)
    form = {"caption": "x", "tags": "", "action": action, "csrf_token": token}
    assert browser.post(url, data=form).status_code == 403
    assert _state(session, asset_id) == (AssetStatus.approved, CAPTION)
    saved = browser.post(url, data={**form, "caption": "Odette scarf", "action": "save"})
    assert saved.status_code == 303
    assert _state(session, asset_id) == (AssetStatus.approved, "Odette scarf")


def test_a_creative_may_not_reject_a_pending_asset(
    api: TestClient, client: TestClient, asset_id: int, session: Session
) -> None:
    assert client.patch(f"/api/v1/assets/{asset_id}", json={"status": "pending"}).status_code == 200
    assert api.patch(f"/api/v1/assets/{asset_id}", json={"status": "rejected"}).status_code == 403
    assert _state(session, asset_id) == (AssetStatus.pending, CAPTION)
