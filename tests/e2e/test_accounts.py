"""The admin invites a merchandiser, who joins, approves an image, and is refused admin pages."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import sign_in
from tests.e2e.test_gallery import _png

pytestmark = pytest.mark.browser


def test_invite_join_approve_and_be_refused(
    live_server: str, admin_page: Page, browser: Browser, tmp_path: Path
) -> None:
    admin = admin_page
    admin.goto(f"{live_server}/brands/maison/assets")
    admin.set_input_files("#files", [str(_png(tmp_path / "a.png", "navy"))])
    expect(admin.locator("#grid .tile")).to_have_count(1)

    admin.click("nav >> text=Members")
    admin.fill("#add-member input[name=email]", "margaux@maison.test")
    admin.select_option("#add-member select[name=role]", "merchandiser")
    admin.click("#add-member button[type=submit]")
    invite_url = admin.locator("#invite-url").inner_text()
    expect(admin.locator("text=Open invitations")).to_be_visible()

    newcomer = browser.new_context().new_page()
    newcomer.goto(invite_url)
    expect(newcomer.locator("h1")).to_have_text("Join Maison Test")
    newcomer.fill("input[name=name]", "Margaux")
    newcomer.fill("input[name=password]", "a long enough passphrase")
    newcomer.click("text=Create my account")
    expect(newcomer.locator(".usernav")).to_contain_text("margaux@maison.test")
    expect(newcomer.locator(".usernav .badge")).to_have_text("merchandiser")
    expect(newcomer.locator("nav >> text=Members")).to_have_count(0)

    newcomer.goto(f"{live_server}/brands/maison/assets")
    newcomer.locator("#grid .tile a").first.click()
    newcomer.click("button[value=approve]")
    expect(newcomer).to_have_url(f"{live_server}/brands/maison/assets")  # nothing else pending
    newcomer.locator("#grid .tile a").first.click()
    expect(newcomer.locator("#status")).to_have_text("approved")

    refused = newcomer.goto(f"{live_server}/brands/maison/members")
    assert refused is not None and refused.status == 403
    expect(newcomer.locator(".error")).to_contain_text("admin role")

    admin.goto(f"{live_server}/brands/maison/audit")
    expect(admin.locator("table.audit")).to_contain_text("asset.approve")
    expect(admin.locator("table.audit")).to_contain_text("margaux@maison.test")


def test_signed_out_visitors_are_sent_to_sign_in(live_server: str, page: Page) -> None:
    page.goto(f"{live_server}/brands/maison/assets")
    expect(page).to_have_url(f"{live_server}/login?next=/brands/maison/assets")
    page.fill("input[name=email]", "admin@maison.test")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not right")
    sign_in(
        page,
        live_server,
        "admin@maison.test",
        "correct horse battery",
        then="/brands/maison/assets",
    )
    expect(page).to_have_url(f"{live_server}/brands/maison/assets")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{live_server}/login")
