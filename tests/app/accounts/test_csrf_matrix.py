"""Every state-changing route refuses a request without this browser's CSRF token, generated
from the application's route table like the access matrix.

`csrf_protect` (app/auth.py) lets through only safe methods, bearer-token calls (they carry
no ambient credential) and API calls without a session cookie (nothing a browser sends by
itself). Everything else must carry the token: every unsafe page route, the public sign-in
forms included (login CSRF), and the API when called with a session cookie. A route left out
of the check fails here, named.
"""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.service import session_start, user_create
from app.auth import CSRF_HEADER, SESSION_COOKIE, UNSAFE_METHODS, takes_files
from app.config import Settings
from app.main import create_app, route_table
from tests.app.accounts.helpers import csrf_of
from tests.conftest import PASSWORD

REFUSAL = "did not come from this site"
ROUTES = [r for r in route_table(create_app(Settings())) if isinstance(r, APIRoute)]
UNSAFE = [(method, r.path) for r in ROUTES for method in sorted(r.methods & UNSAFE_METHODS)]
# Upload routes answer a signed-out browser "sign in first" before reading the body (BodyLimits).
UPLOADS = {r.path for r in ROUTES if takes_files(r)}


def _url(path: str) -> str:
    """The path with every parameter filled: the check comes before any lookup."""
    return path.format_map(_Ones())


class _Ones(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "1"


@pytest.fixture
def cookie(session: Session, settings: Settings) -> str:
    """A live session cookie's secret: the ambient credential a forged request rides on."""
    user = user_create(session=session, email="camille@maison.test", password=PASSWORD)
    user.is_superuser = True
    secret = session_start(session=session, user=user, address="", user_agent="", settings=settings)
    session.commit()
    return secret


def _browser(app: FastAPI, cookie: str | None) -> Iterator[tuple[TestClient, str]]:
    """A browser that holds a CSRF cookie (from the login page) and, if given, a session;
    with the token that its pages carry."""
    with TestClient(app, follow_redirects=False) as client:
        token = csrf_of(client.get("/login").text)
        if cookie is not None:
            client.cookies.set(SESSION_COOKIE, cookie)
        yield client, token


def _token_of_another_browser(app: FastAPI) -> str:
    with TestClient(app) as other:
        return csrf_of(other.get("/login").text)


def _refused(response_status: int, text: str) -> bool:
    return response_status == 403 and REFUSAL in text


def test_the_matrix_covers_the_sign_in_forms_and_the_api() -> None:
    assert ("POST", "/login") in UNSAFE and ("POST", "/invite/accept") in UNSAFE
    assert ("PATCH", "/api/v1/assets/{asset_id}") in UNSAFE and len(UNSAFE) > 40


def test_every_unsafe_route_with_a_session_needs_this_browsers_token(
    app: FastAPI, cookie: str
) -> None:
    """With a session cookie: no token, and another browser's token, are both refused."""
    failures = []
    foreign = _token_of_another_browser(app)
    for client, _ in _browser(app, cookie):
        for method, path in UNSAFE:
            bare = client.request(method, _url(path))
            if not _refused(bare.status_code, bare.text):
                failures.append(f"{method} {path} without a token: {bare.status_code}")
            forged = client.request(method, _url(path), headers={CSRF_HEADER: foreign})
            if not _refused(forged.status_code, forged.text):
                failures.append(f"{method} {path} with another's token: {forged.status_code}")
    assert failures == []


def test_every_unsafe_page_form_needs_this_browsers_token_even_signed_out(
    app: FastAPI,
) -> None:
    """A page form posted without a session (sign-in, invitations) still needs the token,
    sent as the form field: otherwise a site could sign a browser in as someone else."""
    failures = []
    foreign = _token_of_another_browser(app)
    for client, _ in _browser(app, None):
        for method, path in UNSAFE:
            if path.startswith("/api/") or path in UPLOADS:
                continue
            forged = client.request(method, _url(path), data={"csrf_token": foreign})
            if not _refused(forged.status_code, forged.text):
                failures.append(f"{method} {path}: {forged.status_code}")
    assert failures == []


def test_the_own_token_passes_the_check(app: FastAPI, cookie: str) -> None:
    """The control: this browser's own token is not refused, as header or as form field."""
    for client, token in _browser(app, cookie):
        by_header = client.post("/account/tokens", headers={CSRF_HEADER: token}, data={"name": "a"})
        by_field = client.post("/account/tokens", data={"name": "b", "csrf_token": token})
        assert by_header.status_code == 200 and by_field.status_code == 200
        api = client.post("/api/v1/auth/tokens", headers={CSRF_HEADER: token}, json={"name": "c"})
        assert api.status_code == 201
