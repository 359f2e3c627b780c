"""Adding, inviting, re-roling and removing members; what each role may do with assets."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.accounts.service import membership_set, token_create, user_create
from app.brands.models import Brand
from tests import corpus
from tests.app.accounts.helpers import browser, csrf_of
from tests.conftest import PASSWORD

MEMBERS = "/api/v1/brands/maison/members"


def bearer_for(session: Session, brand: Brand, email: str, role: Role) -> dict[str, str]:
    user = user_create(session=session, email=email, password=PASSWORD)
    membership_set(session=session, brand=brand, user=user, role=role)
    _, secret = token_create(session=session, user=user, name="t", days=1)
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_admin_adds_an_existing_person_directly(
    client: TestClient, brand: Brand, session: Session
) -> None:
    user_create(session=session, email="odette@maison.test", password=PASSWORD)
    session.commit()
    added = client.post(MEMBERS, json={"email": "Odette@Maison.test", "role": "merchandiser"})
    assert added.status_code == 201
    assert added.json()["member"]["role"] == "merchandiser"
    assert added.json()["invite_url"] is None
    assert {m["email"] for m in client.get(MEMBERS).json()} == {
        "operator@atelier.test",
        "odette@maison.test",
    }


def test_invitation_creates_an_account_that_sees_only_its_brand(
    app: FastAPI, client: TestClient, brand: Brand
) -> None:
    client.post("/api/v1/brands", json={"slug": "rival", "name": "Rival"})
    invited = client.post(MEMBERS, json={"email": "margaux@maison.test", "role": "merchandiser"})
    url = invited.json()["invite_url"]
    assert url and invited.json()["member"] is None
    path = url.split("testserver", 1)[1]
    with browser(app) as newcomer:
        form = newcomer.get(path)
        assert form.status_code == 200 and "Join Maison Test" in form.text
        short = newcomer.post(
            path, data={"name": "Margaux", "password": "short", "csrf_token": csrf_of(form.text)}
        )
        assert short.status_code == 422
        joined = newcomer.post(
            path, data={"name": "Margaux", "password": PASSWORD, "csrf_token": csrf_of(form.text)}
        )
        assert joined.status_code == 303 and joined.headers["location"] == "/brands/maison"
        assert newcomer.get("/brands/maison").status_code == 200
        assert newcomer.get("/brands/rival").status_code == 404
        assert newcomer.get(path).status_code == 404, "an invitation is used once"
    roles = {m["email"]: m["role"] for m in client.get(MEMBERS).json()}
    assert roles["margaux@maison.test"] == "merchandiser"


def test_roles_change_and_the_last_admin_stays(
    client: TestClient, brand: Brand, session: Session
) -> None:
    bearer_for(session, brand, "lucien@maison.test", Role.creative)
    members = {m["email"]: m["user_id"] for m in client.get(MEMBERS).json()}
    lucien, me = members["lucien@maison.test"], members["operator@atelier.test"]
    assert client.patch(f"{MEMBERS}/{lucien}", json={"role": "admin"}).json()["role"] == "admin"
    assert client.patch(f"{MEMBERS}/{lucien}", json={"role": "boss"}).status_code == 422
    assert client.delete(f"{MEMBERS}/{lucien}").status_code == 204
    refused = client.delete(f"{MEMBERS}/{me}")
    assert refused.status_code == 409 and "at least one admin" in refused.json()["detail"]
    assert client.patch(f"{MEMBERS}/{me}", json={"role": "creative"}).status_code == 409
    assert client.delete(f"{MEMBERS}/999999").status_code == 404


def test_creative_edits_but_cannot_approve(
    client: TestClient, brand: Brand, session: Session
) -> None:
    creative = bearer_for(session, brand, "bastien@maison.test", Role.creative)
    merchandiser = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    uploaded = client.post(
        "/api/v1/brands/maison/assets", files=[("files", ("a.png", corpus.png()))]
    ).json()
    asset = f"/api/v1/assets/{uploaded['accepted'][0]['asset']['id']}"
    assert (
        client.patch(asset, json={"caption": "Bastien loafer"}, headers=creative).status_code == 200
    )
    refused = client.patch(asset, json={"status": "approved"}, headers=creative)
    assert refused.status_code == 403 and "merchandiser" in refused.json()["detail"]
    assert client.get(asset).json()["status"] == "pending"
    assert (
        client.patch(asset, json={"status": "approved"}, headers=merchandiser).json()["status"]
        == "approved"
    )
    assert client.get(MEMBERS, headers=merchandiser).status_code == 403


@pytest.mark.parametrize("part", ["", "/thumbnail", "/original"])
def test_another_brands_asset_is_404_not_403(
    client: TestClient, brand: Brand, session: Session, part: str
) -> None:
    client.post("/api/v1/brands", json={"slug": "rival", "name": "Rival"})
    rival = session.query(Brand).filter_by(slug="rival").one()
    outsider = bearer_for(session, rival, "spy@rival.test", Role.admin)
    uploaded = client.post(
        "/api/v1/brands/maison/assets", files=[("files", ("a.png", corpus.png()))]
    ).json()
    asset_id = uploaded["accepted"][0]["asset"]["id"]
    response = client.get(f"/api/v1/assets/{asset_id}{part}", headers=outsider)
    missing = client.get(f"/api/v1/assets/999999{part}", headers=outsider)
    assert response.status_code == missing.status_code == 404
    assert response.json() == {"detail": f"no asset {asset_id}"}
    assert client.get("/api/v1/brands/maison/assets", headers=outsider).json() == {
        "detail": "no brand 'maison'"
    }
