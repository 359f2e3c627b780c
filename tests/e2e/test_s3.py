"""With the blobs in an S3 bucket (moto's server on loopback), the browser shows an original
through its presigned URL, and the content security policy lets the bucket's image in."""

import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from tests.s3 import MotoServer

pytestmark = [pytest.mark.browser, pytest.mark.processes]


@pytest.fixture
def live_settings(moto_server: MotoServer) -> dict[str, str]:
    """The live server's blobs in a new bucket (it inherits the AWS_* variables)."""
    return {"STORAGE_URL": moto_server.url(moto_server.bucket(), "atelier")}


def test_the_asset_page_shows_the_original_from_the_bucket(
    live_server: str, admin_page: Page, moto_server: MotoServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    page, refused, from_bucket = admin_page, [], []

    def listen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            refused.append(message.text)

    def answered(response: Response) -> None:
        if response.url.startswith(f"{moto_server.endpoint}/"):
            from_bucket.append(response.status)

    page.on("console", listen)
    page.on("response", answered)
    image = tmp_path / "one.png"
    Image.new("RGB", (64, 48), "teal").save(image, format="PNG")
    page.goto(f"{live_server}/brands/maison/assets")
    page.set_input_files("#files", [str(image)])
    expect(page.locator("#grid .tile")).to_have_count(1)
    page.locator("#grid .tile a").first.click()
    page.wait_for_load_state("networkidle")
    original = page.locator('img[src$="/original"]')
    expect(original).to_have_count(1)
    width = original.evaluate("img => img.complete ? img.naturalWidth : -1")
    assert width == 64, "the original loaded from the bucket"
    assert from_bucket == [200] and refused == []
