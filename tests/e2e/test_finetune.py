"""One click fine-tunes the demo model on the demo brand; the page shows the loss falling live,
the adapter downloads, the results show the adapted captions beating the base's on BLEU-4 and
tag F1 (measured on the demo brand's validation images), and a
merchandiser rates a pair blind."""

import io
import zipfile

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.browser


def test_one_click_fine_tune_shows_the_curve_move(demo_server: str, page: Page) -> None:
    sign_in(page, demo_server, "admin@demo.atelier", "atelier-demo")
    expect(page).to_have_url(f"{demo_server}/brands/demo")
    page.click("#one-click-run")
    expect(page.locator("h1")).to_have_text("Run 1")
    expect(page.locator("#run-status")).to_have_text("running", timeout=60_000)

    curve = page.locator("#loss-chart polyline")
    expect(curve).to_have_count(1, timeout=60_000)
    first = curve.get_attribute("points") or ""
    expect(curve).not_to_have_attribute("points", first, timeout=60_000)  # it moves, live

    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=900_000)
    points = [p.split(",") for p in (curve.get_attribute("points") or "").split()]
    assert len(points) > 5
    ys = [float(y) for _, y in points]
    assert ys[-1] > ys[0], "SVG y grows downwards: the loss fell"

    with page.expect_download() as download:
        page.click("text=Download the adapter")
    data = download.value.path().read_bytes()
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"adapter_config.json", "adapter_model.safetensors"} <= names
    expect(page.locator("table.card")).to_contain_text("Trainable parameters")

    # The results: measured on the demo brand's validation images, a real measurement.
    page.click("#results-link")
    expect(page.locator("table.summary")).to_be_visible(timeout=300_000)
    expect(page.locator("#adapter-check")).to_be_visible()
    for metric in ("bleu4", "tag_f1"):
        cells = page.locator(f"tr[data-metric={metric}] td").all_inner_texts()
        base, adapted = float(cells[1]), float(cells[3])
        print(f"{metric}: base {base}, adapted {adapted}")  # shown with pytest -s
        assert adapted > base, f"{metric}: adapted {adapted} against base {base}"
    expect(page.locator("#comparison tbody tr").first).to_be_visible()
    expect(page.locator("#comparison mark.prefer").first).to_be_visible()

    # A merchandiser's rating (the demo admin is one too): having seen the results above, it
    # is no longer blind, and it is kept out of the win rate.
    page.click("text=rate blind")
    expect(page.locator("#unblinded-note")).to_be_visible()
    page.click("#choose-left")
    page.goto(page.url.replace("/rate", "/results"))
    expect(page.locator("text=Blind ratings")).to_be_visible()
    expect(page.locator("#unblinded-count")).to_contain_text("1 rating given after seeing")
