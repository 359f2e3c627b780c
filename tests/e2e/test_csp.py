"""The main pages work under the content security policy: the browser reports no violation."""

import pytest
from playwright.sync_api import ConsoleMessage, Page

pytestmark = pytest.mark.browser

PAGES = [
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
    "/brands/nowhere",
]


def test_no_page_breaks_the_content_security_policy(admin_page: Page, live_server: str) -> None:
    refused: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            refused.append(message.text)

    admin_page.on("console", listen)
    for path in PAGES:
        admin_page.goto(f"{live_server}{path}")
        admin_page.wait_for_load_state("networkidle")
    assert refused == []
