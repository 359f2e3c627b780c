"""Adding, inviting, re-roling and removing members; what each role may do with assets."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.accounts.service import membership_set, token_create, user_create
from app.brands.models import Brand
from tests import corpus
from tests.app.accounts.helpers import browser, csrf_of, sign_in
from tests.conftest import PASSWORD

MEMBERS = "/api/v1/brands/maison/members"


def bearer_for(session: Session, brand: Brand, email: str, role: Role) -> dict[str, str]:
    user = user_create(session=session, email=email, password=PASSWORD)
    membership_set(session=session, brand=brand, user=user, role=role)
    _, secret = token_create(session=session, user=user, name="t", days=1)
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _shape(answer: dict[str, object]) -> dict[str, object]:
    """An answer with its one-off parts (the secret, the expiry) blanked."""
    return {
        **answer,
        "invite_url": str(answer["invite_url"]).split("#")[0],
        "invite_expires_at": "",
    }


def test_adding_an_existing_account_invites_it_and_reveals_nothing(
    app: FastAPI, client: TestClient, brand: Brand, session: Session
) -> None:
    user_create(session=session, email="odette@maison.test", password=PASSWORD, name="Odette")
    session.commit()
    known = client.post(MEMBERS, json={"email": "Odette@Maison.test", "role": "merchandiser"})
    unknown = client.post(MEMBERS, json={"email": "nobody@maison.test", "role": "merchandiser"})
    assert known.status_code == unknown.status_code == 201
    assert "Odette" not in known.text, "the answer names nobody"
    assert _shape(known.json()) == {**_shape(unknown.json()), "email": "odette@maison.test"}
    assert "odette@maison.test" not in {m["email"] for m in client.get(MEMBERS).json()}
    with browser(app) as odette:
        page = odette.get("/members-of-nothing")  # any page: for the CSRF cookie
        status, csrf = sign_in(odette, "odette@maison.test", PASSWORD)
        assert status == 303 and page.status_code == 404
        assert odette.get("/brands/maison").status_code == 404, "not a member before accepting"
        secret = known.json()["invite_url"].split("#", 1)[1]
        opened = odette.post("/invite", data={"token": secret, "csrf_token": csrf})
        assert opened.status_code == 200 and "signed in as" in opened.text
        joined = odette.post("/invite/accept", data={"token": secret, "csrf_token": csrf})
        assert joined.status_code == 303 and joined.headers["location"] == "/brands/maison"
        assert odette.get("/brands/maison").status_code == 200
    roles = {m["email"]: m["role"] for m in client.get(MEMBERS).json()}
    assert roles["odette@maison.test"] == "merchandiser"


def test_only_the_addressee_accepts_with_an_account(
    app: FastAPI, client: TestClient, brand: Brand, session: Session
) -> None:
    user_create(session=session, email="spy@rival.test", password=PASSWORD)
    session.commit()
    invited = client.post(MEMBERS, json={"email": "margaux@maison.test", "role": "admin"})
    secret = invited.json()["invite_url"].split("#", 1)[1]
    with browser(app) as spy:
        _, csrf = sign_in(spy, "spy@rival.test", PASSWORD)
        refused = spy.post("/invite/accept", data={"token": secret, "csrf_token": csrf})
        assert refused.status_code == 409 and "another address" in refused.text
        assert spy.get("/brands/maison").status_code == 404


def test_inviting_a_member_again_is_a_conflict(client: TestClient, brand: Brand) -> None:
    again = client.post(MEMBERS, json={"email": "operator@atelier.test", "role": "creative"})
    assert again.status_code == 409 and "member of" in again.text


def test_invitation_creates_an_account_that_sees_only_its_brand(
    app: FastAPI, client: TestClient, brand: Brand
) -> None:
    client.post("/api/v1/brands", json={"slug": "rival", "name": "Rival"})
    invited = client.post(MEMBERS, json={"email": "margaux@maison.test", "role": "merchandiser"})
    url = invited.json()["invite_url"]
    assert url.startswith("http://testserver/invite#")
    secret = url.split("#", 1)[1]
    with browser(app) as newcomer:
        landing = newcomer.get("/invite")
        assert landing.status_code == 200 and secret not in landing.text
        csrf = csrf_of(landing.text)
        form = newcomer.post("/invite", data={"token": secret, "csrf_token": csrf})
        assert form.status_code == 200 and "Join Maison Test" in form.text
        new = {"name": "Margaux", "token": secret, "csrf_token": csrf}
        short = newcomer.post("/invite/accept", data={**new, "password": "short"})
        assert short.status_code == 422
        joined = newcomer.post("/invite/accept", data={**new, "password": PASSWORD})
        assert joined.status_code == 303 and joined.headers["location"] == "/brands/maison"
        home = newcomer.get("/brands/maison")
        assert home.status_code == 200
        assert newcomer.get("/brands/rival").status_code == 404
        used = newcomer.post("/invite", data={"token": secret, "csrf_token": csrf_of(home.text)})
        assert used.status_code == 404, "an invitation is used once"
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
