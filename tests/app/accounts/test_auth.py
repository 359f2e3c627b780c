"""Sign-in, sessions, CSRF, API tokens and the login slow-down, against the real app."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.models import ApiToken, LoginSession, LoginThrottle, Role
from app.accounts.service import membership_set, user_create
from app.auth import CSRF_COOKIE, SESSION_COOKIE
from app.brands.models import Brand
from app.config import Settings
from app.db import utcnow
from app.main import create_app
from tests.app.accounts.helpers import browser, csrf_of, sign_in
from tests.conftest import PASSWORD

EMAIL = "camille@maison.test"


@pytest.fixture
def person(session: Session, brand: Brand) -> str:
    user = user_create(session=session, email=EMAIL, password=PASSWORD)
    membership_set(session=session, brand=brand, user=user, role=Role.creative)
    session.commit()
    return EMAIL


def test_sign_in_sets_a_guarded_session_cookie(app: FastAPI, person: str) -> None:
    with browser(app) as client:
        status, _ = sign_in(client, person, PASSWORD)
        assert status == 303
        cookie = next(h for h in client.cookies.jar if h.name == SESSION_COOKIE)
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert client.get("/brands/maison").status_code == 200


def _cookie(headers: list[str], name: str) -> str:
    return next(h for h in headers if h.startswith(f"{name}="))


def test_cookies_are_secure_host_only_outside_development(settings: Settings, person: str) -> None:
    """In production both cookies carry the __Host- prefix (Secure, Path=/, no Domain), and
    they are read back under that name: sign-in, a CSRF-checked form and logout all work."""
    production = settings.model_copy(
        update={"ENVIRONMENT": "production", "SECRET_KEY": "a real secret, not the default"}
    )
    with TestClient(
        create_app(production), base_url="https://testserver", follow_redirects=False
    ) as client:
        page = client.get("/login")
        csrf = _cookie(page.headers.get_list("set-cookie"), f"__Host-{CSRF_COOKIE}")
        response = client.post(
            "/login", data={"email": person, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303, "the CSRF cookie was read under its prefixed name"
        headers = response.headers.get_list("set-cookie")
        session_cookie = _cookie(headers, f"__Host-{SESSION_COOKIE}")
        for cookie in [csrf, session_cookie, _cookie(headers, f"__Host-{CSRF_COOKIE}")]:
            attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
            assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
            assert not any(a.startswith("domain") for a in attributes)
        assert "samesite=lax" in session_cookie.lower()
        assert not any(h.startswith(f"{SESSION_COOKIE}=") for h in headers)
        account = client.get("/account")
        assert account.status_code == 200, "the session cookie was read under its prefixed name"
        token = {"csrf_token": csrf_of(account.text)}
        made = client.post("/account/tokens", data={"name": "script", **token})
        assert made.status_code == 200, made.text
        logout = client.post("/logout", data=token)
        assert logout.status_code == 303
        gone = _cookie(logout.headers.get_list("set-cookie"), f"__Host-{SESSION_COOKIE}")
        assert "max-age=0" in gone.lower() and "secure" in gone.lower()
        assert client.get("/account").status_code == 303


def test_wrong_password_is_refused_without_saying_which_part(app: FastAPI, person: str) -> None:
    with browser(app) as client:
        status, _ = sign_in(client, person, "not the password")
        assert status == 401
        status, _ = sign_in(client, "nobody@maison.test", PASSWORD)
        assert status == 401
        assert client.get("/brands/maison").headers["location"].startswith("/login?next=")


def test_login_form_needs_its_csrf_token(app: FastAPI, person: str) -> None:
    with browser(app) as client:
        client.get("/login")
        response = client.post("/login", data={"email": person, "password": PASSWORD})
        assert response.status_code == 403
        assert SESSION_COOKIE not in client.cookies


def test_state_changes_need_the_csrf_token(app: FastAPI, person: str, session: Session) -> None:
    with browser(app) as client, browser(app) as other:
        _, token = sign_in(client, person, PASSWORD)
        _, foreign = sign_in(other, person, PASSWORD)
        asset_form = {"name": "script", "days": "30"}
        assert client.post("/account/tokens", data=asset_form).status_code == 403
        assert (
            client.post("/account/tokens", data={**asset_form, "csrf_token": foreign}).status_code
            == 403
        )
        assert (
            client.post("/account/tokens", data={**asset_form, "csrf_token": token}).status_code
            == 200
        )
        # The API, reached with a session cookie, wants the token too (in a header).
        assert client.post("/api/v1/auth/tokens", json={"name": "x"}).status_code == 403
        created = client.post(
            "/api/v1/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": token}
        )
        assert created.status_code == 201
    session.commit()
    assert len(session.scalars(select(ApiToken)).all()) == 3  # the operator's, and these two


def test_sign_in_rotates_the_session(app: FastAPI, person: str, session: Session) -> None:
    with browser(app) as client:
        sign_in(client, person, PASSWORD)
        first = client.cookies[SESSION_COOKIE]
        sign_in(client, person, PASSWORD)
        assert client.cookies[SESSION_COOKIE] != first
    with browser(app) as replay:
        replay.cookies.set(SESSION_COOKIE, first)
        assert replay.get("/account").status_code == 303, "the old session was closed"


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_sessions_expire_when_idle_and_absolutely(
    app: FastAPI, person: str, session: Session, settings: Settings, column: str
) -> None:
    with browser(app) as client:
        sign_in(client, person, PASSWORD)
        assert client.get("/account").status_code == 200
        past = utcnow() - timedelta(seconds=settings.SESSION_IDLE_SECONDS + 1)
        session.execute(update(LoginSession).values({column: past}))
        session.commit()
        assert client.get("/account").headers["location"] == "/login?next=/account"


def test_sessions_are_revoked_from_another_browser_and_by_logout(
    app: FastAPI, person: str, session: Session
) -> None:
    with browser(app) as laptop, browser(app) as phone:
        _, token = sign_in(laptop, person, PASSWORD)
        sign_in(phone, person, PASSWORD)
        session.commit()
        phone_session = max(session.scalars(select(LoginSession.id)))
        response = laptop.post(
            f"/account/sessions/{phone_session}/revoke", data={"csrf_token": token}
        )
        assert response.status_code == 303
        assert phone.get("/account").status_code == 303
        assert laptop.get("/account").status_code == 200
        laptop.post("/logout", data={"csrf_token": token})
        assert laptop.get("/account").status_code == 303


def test_password_change_signs_out_other_sessions(app: FastAPI, person: str) -> None:
    with browser(app) as laptop, browser(app) as phone:
        _, token = sign_in(laptop, person, PASSWORD)
        sign_in(phone, person, PASSWORD)
        short = laptop.post(
            "/account/password", data={"current": PASSWORD, "new": "short", "csrf_token": token}
        )
        assert short.status_code == 422 and "10 characters" in short.text
        changed = laptop.post(
            "/account/password",
            data={"current": PASSWORD, "new": "a much longer passphrase", "csrf_token": token},
        )
        assert changed.status_code == 303
        assert phone.get("/account").status_code == 303
        assert laptop.get("/account").status_code == 200
        assert sign_in(phone, person, "a much longer passphrase")[0] == 303


@pytest.mark.parametrize("ticked", [True, False], ids=["tokens-revoked", "tokens-kept"])
def test_password_change_revokes_api_tokens_when_ticked(
    app: FastAPI, anon: TestClient, person: str, ticked: bool
) -> None:
    """The form offers, ticked by default, to revoke the API tokens too; unticked keeps them."""
    issued = anon.post("/api/v1/auth/token", data={"email": person, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    with browser(app) as laptop:
        _, token = sign_in(laptop, person, PASSWORD)
        form = laptop.get("/account").text
        assert '<input type="checkbox" name="revoke_tokens" value="true" checked>' in form
        data = {"current": PASSWORD, "new": "a much longer passphrase", "csrf_token": token}
        if ticked:  # what a browser sends for the ticked box; an unticked one sends nothing
            data["revoke_tokens"] = "true"
        assert laptop.post("/account/password", data=data).status_code == 303
    assert anon.get("/api/v1/auth/me", headers=bearer).status_code == (401 if ticked else 200)


def test_api_tokens_from_password_then_revoked(
    anon: TestClient, person: str, session: Session
) -> None:
    issued = anon.post("/api/v1/auth/token", data={"email": person, "password": PASSWORD})
    assert issued.status_code == 200
    body = issued.json()
    assert body["token_type"] == "bearer"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert anon.get("/api/v1/auth/me", headers=bearer).json()["email"] == person
    tokens = anon.get("/api/v1/auth/tokens", headers=bearer).json()
    assert tokens[0]["last_used_at"] is not None
    session.commit()
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert body["access_token"] not in stored, "only a hash is kept"
    assert anon.delete(f"/api/v1/auth/tokens/{tokens[0]['id']}", headers=bearer).status_code == 204
    refused = anon.get("/api/v1/auth/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"


def test_expired_token_is_refused(anon: TestClient, person: str, session: Session) -> None:
    secret = anon.post("/api/v1/auth/token", data={"email": person, "password": PASSWORD}).json()[
        "access_token"
    ]
    session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert (
        anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )


def test_wrong_password_for_a_token(anon: TestClient, person: str) -> None:
    response = anon.post("/api/v1/auth/token", data={"email": person, "password": "nope"})
    assert response.status_code == 401


def test_sign_in_slows_down_per_account(
    anon: TestClient, person: str, session: Session, settings: Settings
) -> None:
    for _ in range(settings.LOGIN_FREE_FAILURES):
        assert (
            anon.post("/api/v1/auth/token", data={"email": person, "password": "guess"}).status_code
            == 401
        )
    anon.post("/api/v1/auth/token", data={"email": person, "password": "guess"})
    blocked = anon.post("/api/v1/auth/token", data={"email": person, "password": PASSWORD})
    assert blocked.status_code == 429, "even the right password waits"
    assert int(blocked.headers["retry-after"]) >= 1
    session.commit()
    throttle = session.get_one(LoginThrottle, f"email:{person}")
    throttle.last_failure_at = utcnow() - timedelta(hours=1)
    session.commit()
    assert (
        anon.post("/api/v1/auth/token", data={"email": person, "password": PASSWORD}).status_code
        == 200
    )
    session.expire_all()
    assert session.get(LoginThrottle, f"email:{person}") is None, "success resets the account"


def test_sign_in_slows_down_per_address(app: FastAPI, person: str, settings: Settings) -> None:
    with browser(app, client_address="203.0.113.9") as client:
        for i in range(settings.LOGIN_FREE_FAILURES_PER_ADDRESS + 1):
            sign_in(client, f"guess{i}@maison.test", "guess")
        status, _ = sign_in(client, person, PASSWORD)
        assert status == 429
    with browser(app, client_address="198.51.100.7") as elsewhere:
        assert sign_in(elsewhere, person, PASSWORD)[0] == 303


def test_next_never_leaves_the_site(app: FastAPI, person: str) -> None:
    with browser(app) as client:
        token = csrf_of(client.get("/login").text)
        for target in ["https://evil.example/", "//evil.example", "/\\evil.example"]:
            response = client.post(
                "/login",
                data={"email": person, "password": PASSWORD, "csrf_token": token, "next": target},
            )
            assert response.headers["location"] == "/"
            token = csrf_of(client.get("/account").text)


@pytest.mark.parametrize("days", ["99999999", "0", "3651"])
def test_a_token_lifetime_out_of_bounds_is_a_sentence(app: FastAPI, person: str, days: str) -> None:
    with browser(app) as client:
        _, token = sign_in(client, person, PASSWORD)
        answer = client.post(
            "/account/tokens", data={"name": "script", "days": days, "csrf_token": token}
        )
    assert answer.status_code == 422 and "1 to 3650 days" in answer.text
