"""The loop closes, in the browser: an admin makes a caption+tags adapter active for uploads,
twenty new demo photos are auto-tagged on arrival, a merchandiser works through the review
queue from the keyboard (correcting two), and the next frozen dataset holds all twenty."""

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.demo.catalogue import catalogue
from app.demo.render import product_render
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.browser
ADMIN, PASSWORD = "admin@demo.atelier", "atelier-demo"
NEW = 20


class Api:
    """The demo server's API, as a script would use it."""

    def __init__(self, base: str) -> None:
        form = urllib.parse.urlencode({"email": ADMIN, "password": PASSWORD}).encode()
        with urllib.request.urlopen(f"{base}/api/v1/auth/token", data=form, timeout=30) as r:
            self.base, self.token = base, json.load(r)["access_token"]

    def __call__(self, method: str, path: str, body: object = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)

    def wait(self, path: str, done: str = "succeeded", timeout: float = 600) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self("GET", path)
            if state["status"] in (done, "failed", "cancelled"):
                return state
            time.sleep(1)
        raise AssertionError(f"{path} did not finish: {state}")


def test_uploads_are_auto_tagged_and_reviewed_from_the_keyboard(
    demo_server: str, page: Page, tmp_path: Path
) -> None:
    api = Api(demo_server)
    dataset = api("POST", "/api/v1/brands/demo/datasets")
    run = api(
        "POST",
        "/api/v1/brands/demo/runs",
        {
            "dataset_id": dataset["id"],
            "preset": "quick-demo",
            "name": "catalogue tags",
            "settings": {"task": "caption+tags", "max_steps": 20, "checkpoint_steps": 1000},
        },
    )
    assert api.wait(f"/api/v1/runs/{run['id']}")["status"] == "succeeded"

    sign_in(page, demo_server, ADMIN, PASSWORD, then="/brands/demo/adapters")
    page.check(f"tr[data-run='{run['id']}'] input[type=radio]")
    page.check("input[name=autotag_uploads]")
    page.click("#save-active")
    expect(page.locator(f"tr[data-run='{run['id']}']")).to_contain_text("active")

    photos = []
    for i, product in enumerate(catalogue(NEW, seed=7)):  # never among the demo brand's photos
        photos.append(tmp_path / f"new-{i}.png")
        product_render(product).save(photos[-1])
    page.goto(f"{demo_server}/brands/demo/assets")
    page.set_input_files("#files", [str(p) for p in photos])
    report = page.locator("#upload-report .summary")
    expect(report).to_contain_text(f"{NEW} added", timeout=60_000)

    [job] = api("GET", "/api/v1/brands/demo/autotag")  # started by the upload
    assert job["origin"] == "upload" and job["total"] == NEW
    assert api.wait(f"/api/v1/autotag/{job['id']}")["done"] == NEW

    page.goto(f"{demo_server}/brands/demo/review")
    expect(page.locator("#review-counts")).to_contain_text(f"{NEW} pending")
    page.keyboard.press("?")
    expect(page.locator("#review-help")).to_be_visible()
    page.keyboard.press("Escape")
    first = page.locator("#review-item").get_attribute("data-suggestion")
    page.keyboard.press("j")
    expect(page.locator("#review-item")).not_to_have_attribute("data-suggestion", first or "")
    page.keyboard.press("k")
    expect(page.locator("#review-item")).to_have_attribute("data-suggestion", first or "")

    corrected = 0
    for n in range(NEW):
        current = page.locator("#review-item").get_attribute("data-suggestion")
        understood = page.locator("#accept").is_enabled()
        if n < 2 or not understood:  # two corrected by hand, and any answer not understood
            page.keyboard.press("a" if not understood else "e")  # "a" opens the editor then
            expect(page.locator("#edit-caption")).to_be_focused()
            page.fill("#edit-caption", f"Camille tote in burgundy calfskin, corrected {n}")
            page.fill("#edit-tags", "tote, burgundy, calfskin")
            page.keyboard.press("Enter")
            corrected += 1
        else:
            page.keyboard.press("a")
        if n + 1 < NEW:
            expect(page.locator("#review-item")).not_to_have_attribute(
                "data-suggestion", current or ""
            )
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator("#review-counts")).to_contain_text(f"0 pending · {NEW} accepted")

    frozen = api("POST", "/api/v1/brands/demo/datasets")
    items = api("GET", f"/api/v1/brands/demo/datasets/{frozen['version']}")["items"]
    captions = [i["caption"] for i in items]
    assert sum("corrected" in c for c in captions) == corrected >= 2
    assert frozen["counts"]["total"] == dataset["counts"]["total"] + NEW, "all twenty are in"
