"""Each role's path at desktop width, bounded (no training): a creative walks the library with
previous/next, keeps tags in order and previews a new style guide; a merchandiser approves and
rejects one asset after another and approves a filtered set; an admin freezes datasets and
compares them, and finds the base models in the brand's navigation."""

from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _upload(page: Page, base: str, tmp_path: Path, colours: list[str]) -> None:
    files = []
    for colour in colours:
        files.append(tmp_path / f"{colour}.png")
        Image.new("RGB", (48, 40), colour).save(files[-1])
    page.goto(f"{base}/brands/maison/assets")
    page.set_input_files("#files", [str(f) for f in files])
    expect(page.locator("#upload-report .summary")).to_contain_text(f"{len(colours)} added")


def test_each_role_walks_its_day(live_server: str, admin_page: Page, tmp_path: Path) -> None:
    page, base = admin_page, live_server
    _upload(page, base, tmp_path, ["darkred", "navy", "teal", "olive"])

    # Creative: tags in the order typed, then previous and next.
    page.goto(f"{base}/brands/maison/assets")
    page.locator("#grid .tile a").first.click()
    page.fill("input[name=tags]", "tote, burgundy, calfskin")
    page.click("button[value=save]")
    expect(page.locator("#editor .saved")).to_be_visible()
    page.reload()
    expect(page.locator("input[name=tags]")).to_have_value("tote, burgundy, calfskin")
    expect(page.locator("#previous")).to_have_count(0)
    page.click("#next")
    page.click("#previous")
    expect(page.locator("input[name=tags]")).to_have_value("tote, burgundy, calfskin")

    # Creative: a second style guide shows its term changes before it replaces the first.
    first, second = tmp_path / "v1.md", tmp_path / "v2.md"
    first.write_text("- Prefer: calfskin (not: leather)\n- Avoid: cheap\n")
    second.write_text("- Prefer: calfskin (not: leather)\n- Avoid: cheap, bargain\n")
    page.goto(f"{base}/brands/maison/styleguide")
    page.set_input_files("input[name=file]", str(first))
    page.click("form.inline button[type=submit]")
    page.set_input_files("input[name=file]", str(second))
    page.click("form.inline button[type=submit]")
    expect(page.locator("#terms-diff")).to_contain_text("banned word added")
    expect(page.locator("#terms-diff")).to_contain_text("bargain")
    page.click("#confirm-guide")
    expect(page.locator(".pagehead")).to_contain_text("Version 2")

    # Merchandiser: from the first pending asset, approve, then reject with a reason.
    page.goto(f"{base}/brands/maison/assets?status=pending")
    page.click("#review-pending")
    start = page.url
    page.click("button[value=approve]")
    page.wait_for_url(lambda url: url != start)
    assert "status=pending" in page.url
    second_asset = page.url
    page.fill("input[name=reason]", "the product is cropped")
    page.click("button[value=reject]")
    page.wait_for_url(lambda url: url != second_asset)
    page.goto(second_asset)
    expect(page.locator("#reject-reason")).to_contain_text("the product is cropped")
    page.goto(f"{base}/brands/maison/assets")
    expect(page.locator("#approve-pending")).to_contain_text("Approve the 2 awaiting review")
    page.click("#approve-pending button")
    expect(page.locator("#counts")).to_contain_text("3 approved · 0 awaiting review · 1 rejected")

    # Admin: freeze, change a caption, freeze again, and see the diff; base models in the nav.
    page.click("nav.brandnav >> text=Datasets")
    page.click("#freeze")
    expect(page.locator("h1")).to_have_text("Dataset v1")
    page.goto(f"{base}/brands/maison/assets?status=approved")
    page.locator("#grid .tile a").first.click()
    page.fill("textarea[name=caption]", "Camille tote in burgundy")
    page.click("button[value=save]")
    expect(page.locator("#editor .saved")).to_be_visible()
    page.goto(f"{base}/brands/maison/datasets")
    page.click("#freeze")
    expect(page.locator("h1")).to_have_text("Dataset v2")
    page.click("text=Changes since v1")
    expect(page.locator("#diff-summary")).to_have_text("0 added · 0 removed · 1 changed")
    expect(page.locator("#diff")).to_contain_text("Camille tote in burgundy")
    page.click("nav.brandnav >> text=Base models")
    expect(page.locator("nav.brandnav .brandname")).to_have_text("Maison Test")
    expect(page.locator("table.history")).to_contain_text("default")
