"""Sign in the way a browser does: fetch the login page, post the form with its CSRF token."""

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match is not None, "page without a CSRF token"
    return match.group(1)


def browser(app: FastAPI, *, client_address: str = "testclient") -> TestClient:
    return TestClient(app, follow_redirects=False, client=(client_address, 50000))


def sign_in(client: TestClient, email: str, password: str) -> "tuple[int, str]":
    """Post the login form; answers (status, the CSRF token to use from now on)."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token, "next": "/account"},
    )
    if response.status_code == 303:
        token = csrf_of(client.get("/account").text)
    return response.status_code, token
