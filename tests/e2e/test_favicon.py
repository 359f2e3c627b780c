"""Every page names its icon, so the browser's request for one does not fail."""

import pytest
from playwright.sync_api import Page, Response

pytestmark = pytest.mark.browser


def test_pages_ask_for_nothing_that_is_not_there(live_server: str, page: Page) -> None:
    failed: list[str] = []

    def listen(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", listen)
    page.goto(f"{live_server}/login")
    page.wait_for_load_state("networkidle")
    assert failed == []
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
    assert icon == 200
