"""Every response carries the security headers; pages take no URL from the Host header, and
with TRUSTED_HOSTS set, a foreign host is refused."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.brands.models import Brand
from app.config import Settings
from app.headers import CONTENT_SECURITY_POLICY
from app.main import create_app

PAGES = [
    "/login",
    "/",
    "/account",
    "/base-models",
    "/brands/maison",
    "/brands/maison/assets",
    "/brands/maison/styleguide",
    "/brands/maison/runs",
    "/brands/maison/members",
    "/brands/maison/audit",
    "/invite",
    "/brands/nowhere",  # an error page
    "/healthz",
    "/static/app.css",
    "/api/v1/brands",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(
    client: TestClient, brand: Brand, path: str
) -> None:
    headers = client.get(path).headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"


def test_the_policy_allows_no_inline_script_or_style() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


def test_templates_have_no_inline_script_style_or_handler() -> None:
    from app.config import ROOT

    for template in (ROOT / "templates").rglob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template
        assert not re.search(r"\sstyle=|\son[a-z]+=|javascript:|hx-on", html), template


def test_pages_take_no_url_from_the_host_header(
    settings: Settings, brand: Brand, operator_token: str
) -> None:
    app = create_app(settings.model_copy(update={"TRUSTED_HOSTS": ["*"]}))
    headers = {"Authorization": f"Bearer {operator_token}", "Host": "evil.example"}
    with TestClient(app, headers=headers, follow_redirects=False) as client:
        for path in PAGES:
            answer = client.get(path)
            assert "evil.example" not in answer.text, path
            assert "evil.example" not in answer.headers.get("location", ""), path


def test_a_foreign_host_is_refused(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200  # TestClient's own host: testserver
        assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
