"""A person uploads files on the gallery page and sees them appear; a bad file is refused."""

import io
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _png(path: Path, colour: str) -> Path:
    Image.new("RGB", (64, 48), colour).save(path, format="PNG")
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, colour in [("a.png", "navy"), ("b.png", "ivory")]:
            buffer = io.BytesIO()
            Image.new("RGB", (40, 40), colour).save(buffer, format="PNG")
            archive.writestr(name, buffer.getvalue())
        archive.writestr(
            "manifest.csv", "file,caption,tags\na.png,Odette scarf in navy,scarf;navy\n"
        )
    return path


def test_upload_images_and_zip_then_filter(
    live_server: str, admin_page: Page, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(f"{live_server}/brands/maison/assets")
    expect(page.locator(".empty")).to_be_visible()
    files = [
        _png(tmp_path / "red.png", "darkred"),
        _png(tmp_path / "green.jpg", "darkgreen"),  # a PNG behind a .jpg name is still a PNG
        _zip(tmp_path / "batch.zip"),
        tmp_path / "notes.png",
    ]
    files[-1].write_text("not an image at all")
    page.set_input_files("#files", [str(f) for f in files])

    report = page.locator("#upload-report")
    expect(report.locator(".summary")).to_contain_text("4 added")
    expect(report.locator(".summary")).to_contain_text("1 refused")
    expect(report.locator("li.bad")).to_contain_text("notes.png")
    expect(report.locator("li.bad em")).to_contain_text("not an image")
    expect(page.locator("#grid .tile")).to_have_count(4)
    expect(page.locator("#progress .label")).to_have_text("Done")
    # The counts and the tag list follow the upload, without a reload.
    expect(page.locator("#counts")).to_have_text("0 approved · 4 awaiting review · 0 rejected")
    expect(page.locator("#tag-filter option")).to_have_text(["All tags", "navy", "scarf"])

    page.select_option("select[name=tag]", "navy")
    expect(page.locator("#grid .tile")).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/brands/maison/assets?q=&tag=navy&status=")
    page.select_option("select[name=tag]", "")
    expect(page.locator("#grid .tile")).to_have_count(4)

    page.fill("input[name=q]", "Odette")
    expect(page.locator("#grid .tile")).to_have_count(1)
    # Leaving the search box for a tile must not fire another filter request, whose
    # history push would cancel the navigation to the tile.
    page.locator("#grid .tile a").first.click()
    expect(page.locator("textarea[name=caption]")).to_have_value("Odette scarf in navy")


def test_approve_an_asset(
    live_server: str, admin_page: Page, light_worker: None, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(f"{live_server}/brands/maison/assets")
    page.set_input_files("#files", [str(_png(tmp_path / "one.png", "teal"))])
    expect(page.locator("#grid .tile")).to_have_count(1)
    page.locator("#grid .tile a").first.click()
    page.fill("textarea[name=caption]", "Bastien loafer in teal suede")
    page.fill("input[name=tags]", "loafer, Teal , suede")
    page.click("button[value=approve]")
    # Nothing else awaits review: on to the library, then back to the asset.
    expect(page).to_have_url(f"{live_server}/brands/maison/assets")
    page.locator("#grid .tile a").first.click()
    expect(page.locator("#status")).to_have_text("approved")
    expect(page.locator("input[name=tags]")).to_have_value("loafer, teal, suede")
    page.goto(f"{live_server}/brands/maison/assets?status=approved")
    expect(page.locator("#grid .tile")).to_have_count(1)
    # The approved asset leaves by the gallery's export form, signed in by the session: the
    # light worker builds the zip, and the export's page offers it once written.
    page.select_option("#export-format", "jsonl")
    page.click("#export button")
    expect(page).to_have_url(re.compile(rf"{live_server}/exports/\d+$"))
    expect(page.locator("#export-download")).to_be_visible(timeout=60_000)
    with page.expect_download() as download:
        page.click("#export-download")
    with zipfile.ZipFile(download.value.path()) as archive:
        [line] = archive.read("manifest.jsonl").decode().splitlines()
    assert '"caption": "Bastien loafer in teal suede"' in line


def test_show_more_pages_through_the_library(
    live_server: str, admin_page: Page, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(f"{live_server}/brands/maison/assets")
    images = [_png(tmp_path / f"{i}.png", f"#{i:02x}{i:02x}80") for i in range(14)]
    page.set_input_files("#files", [str(f) for f in images])
    expect(page.locator("#grid .tile")).to_have_count(6)
    page.click("#more a")
    expect(page.locator("#grid .tile")).to_have_count(12)
    page.click("#more a")
    expect(page.locator("#grid .tile")).to_have_count(14)
    expect(page.locator("#more")).to_have_count(0)
    ids = page.locator("#grid .tile").evaluate_all("els => els.map(e => +e.dataset.assetId)")
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 14


def test_the_tag_filter_stays_as_it_was_after_an_upload(
    live_server: str, admin_page: Page, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(f"{live_server}/brands/maison/assets")
    page.set_input_files("#files", [str(_zip(tmp_path / "batch.zip"))])
    expect(page.locator("#tag-filter option")).to_have_text(["All tags", "navy", "scarf"])
    expect(page.locator("#tag-filter")).to_have_value("")
    page.set_input_files("#files", [str(_png(tmp_path / "one.png", "teal"))])
    expect(page.locator("#grid .tile")).to_have_count(3)
    expect(page.locator("#tag-filter")).to_have_value("")
    page.select_option("#tag-filter", "navy")
    expect(page.locator("#grid .tile")).to_have_count(1)
    page.set_input_files("#files", [str(_png(tmp_path / "two.png", "olive"))])
    expect(page.locator("#progress .label")).to_have_text("Done")
    expect(page.locator("#counts")).to_contain_text("4 awaiting review")
    expect(page.locator("#tag-filter")).to_have_value("navy")
    expect(page.locator("#grid .tile")).to_have_count(1)
