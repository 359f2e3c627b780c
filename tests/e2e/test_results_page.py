"""The results page while its evaluation runs, and once it has succeeded."""

import pytest
from playwright.sync_api import Page, expect

from app.evaluations.models import Evaluation, EvaluationStatus
from tests.e2e.conftest import DemoSite, sign_in
from tests.e2e.seed import row_update

pytestmark = pytest.mark.browser


def test_an_evaluation_in_progress_then_its_results(demo_site: DemoSite, page: Page) -> None:
    evaluation = demo_site.runs.evaluation
    row_update(demo_site.database_url, Evaluation, evaluation, status=EvaluationStatus.running)
    results = f"/runs/{demo_site.runs.succeeded}/results"
    sign_in(page, demo_site.base, "admin@demo.atelier", "atelier-demo", then=results)
    expect(page.locator("#evaluation-status")).to_have_text("running")
    expect(page.locator("#evaluation-progress")).to_be_visible()
    expect(page.locator("text=0 validation images")).to_have_count(0)
    expect(page.locator("a[href$='comparison.csv']")).to_have_count(0)
    expect(page.locator("text=rate blind")).to_have_count(0)

    row_update(demo_site.database_url, Evaluation, evaluation, status=EvaluationStatus.succeeded)
    expect(page.locator("table.summary")).to_be_visible(timeout=10_000)
    expect(page.locator(".pagehead")).to_contain_text("6 validation images")
    expect(page.locator("a[href$='comparison.csv']")).to_be_visible()
    expect(page.locator("text=rate blind")).to_be_visible()
