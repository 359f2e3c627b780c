"""Every page of a trained demo brand, at desktop and phone width: no sideways scrolling, the
navigation in view, and no serious or critical accessibility violation (axe-core)."""

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import DESKTOP, PHONE, DemoSite, axe_violations, overflow, sign_in

pytestmark = pytest.mark.browser


def _pages(site: DemoSite) -> list[str]:
    runs = site.runs
    return [
        "/",
        "/brands/demo",
        "/brands/demo/assets",
        "/brands/demo/assets/1",
        "/brands/demo/styleguide",
        "/brands/demo/runs",
        f"/runs/{runs.succeeded}",
        f"/runs/{runs.running}",
        f"/runs/{runs.succeeded}/results",
        f"/runs/{runs.succeeded}/rate",
        "/brands/demo/adapters",
        f"/autotag/{runs.job}",
        f"/imports/{runs.importing}",
        f"/imports/{runs.imported}",
        *(f"/exports/{export}" for export in runs.exports),
        "/brands/demo/datasets/1",
        "/brands/demo/review",
        "/brands/demo/members",
        "/brands/demo/audit",
        "/account",
        "/base-models",
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_fits_and_passes_axe(
    demo_site: DemoSite, browser: Browser, viewport: dict[str, int]
) -> None:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        problems: dict[str, list[str]] = {}
        page.goto(f"{demo_site.base}/login")
        problems["/login"] = axe_violations(page) + overflow(page)
        sign_in(page, demo_site.base, "admin@demo.atelier", "atelier-demo")
        for path in _pages(demo_site):
            response = page.goto(f"{demo_site.base}{path}")
            assert response is not None and response.ok, path
            if path.startswith(("/brands/", "/runs/", "/autotag/", "/imports/", "/exports/")):
                for link in ("Library", "Fine-tuning"):
                    expect(
                        page.locator(".brandnav").get_by_role("link", name=link)
                    ).to_be_in_viewport()
            expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
            problems[path] = axe_violations(page) + overflow(page)
        found = [f"{path}: {problem}" for path, lines in problems.items() for problem in lines]
        assert not found, "\n".join(found)
    finally:
        context.close()
