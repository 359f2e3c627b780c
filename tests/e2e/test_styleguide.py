"""A person uploads the style guide, reads its terms, edits one and gets a new version."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

GUIDE = """# Maison Test

- Prefer: calfskin (not: leather)
- Avoid: cheap, bargain
"""


def test_upload_then_edit_terms(live_server: str, admin_page: Page, tmp_path: Path) -> None:
    page = admin_page
    page.goto(f"{live_server}/brands/maison/styleguide")
    bad = tmp_path / "guide.md"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    page.set_input_files("input[name=file]", str(bad))
    page.click("button:has-text('Upload')")
    expect(page.locator(".error")).to_contain_text("not a PDF, Markdown or text file")

    good = tmp_path / "voice.md"
    good.write_text(GUIDE)
    page.set_input_files("input[name=file]", str(good))
    page.click("button:has-text('Upload')")
    expect(page.locator(".pagehead")).to_contain_text("Version 1")
    expect(page.locator("input[name=term]").first).to_have_value("calfskin")

    page.locator("tr.new input[name=term]").first.fill("burgundy")
    page.locator("tr.new input[name=instead_of]").first.fill("dark red, maroon")
    page.locator("input[name=remove][aria-label='remove bargain']").check()
    page.click("text=Save as a new version")
    expect(page.locator(".pagehead")).to_contain_text("Version 2")
    terms = page.locator("tbody input[name=term]").evaluate_all(
        "els => els.map(e => e.value).filter(Boolean)"
    )
    assert terms == ["calfskin", "cheap", "burgundy"]
    expect(page.locator("table.history tbody tr")).to_have_count(2)
