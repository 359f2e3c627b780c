"""The run page while a run trains: the numbers and the curve move, and nothing else does."""

import pytest
from playwright.sync_api import Page, expect

from app.runs.models import Run
from tests.e2e.conftest import DemoSite, sign_in
from tests.e2e.seed import CARD, history, log_lines, row_update

pytestmark = pytest.mark.browser

AT_BOTTOM = "e => e.scrollTop + e.clientHeight >= e.scrollHeight - 2"


def test_polling_keeps_the_log_the_details_and_the_focus(demo_site: DemoSite, page: Page) -> None:
    run_id = demo_site.runs.running
    sign_in(page, demo_site.base, "admin@demo.atelier", "atelier-demo", then=f"/runs/{run_id}")
    log = page.locator("#run-log")
    expect(log).to_contain_text("step 60:")
    assert log.evaluate(AT_BOTTOM), "the newest lines, at the bottom, are in view"

    page.click("#log-details summary")  # collapse the log
    expect(page.locator("#log-details")).not_to_have_attribute("open", "")
    page.focus("#run-cancel button")
    row_update(demo_site.database_url, Run, run_id, step=30, history=history(30), log=log_lines(80))
    expect(page.locator("#run-step")).to_have_text("30")
    expect(page.locator("#loss-chart polyline")).to_have_count(1)
    assert page.locator("#log-details").get_attribute("open") is None, "still collapsed"
    assert page.evaluate("document.activeElement.textContent.trim()") == "Cancel"
    page.click("#log-details summary")
    expect(log).to_contain_text("step 80:")
    assert log.evaluate(AT_BOTTOM)

    log.evaluate("e => { e.scrollTop = 10 }")  # the reader scrolls up: stay there
    row_update(demo_site.database_url, Run, run_id, step=35, log=log_lines(85))
    expect(page.locator("#run-step")).to_have_text("35")
    expect(log).to_contain_text("step 85:")
    assert log.evaluate("e => e.scrollTop") == 10

    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if f"/runs/{run_id}" in r.url else None)
    row_update(demo_site.database_url, Run, run_id, status="succeeded", step=40, card=CARD)
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#results-link")).to_be_visible()
    expect(page.locator("table.card")).to_contain_text("mean training loss")
    expect(page.locator("#run-cancel")).to_have_count(0)
    count = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) == count, "no more polling once the run has ended"
