"""A person drops an archive too large to answer inline: the library shows its import's
progress bar, a `cpu` worker imports it, and the bar turns into the upload's report while the
gallery fills, without a reload."""

import io
import os
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.worker.e2e import worker_process

pytestmark = [pytest.mark.browser, pytest.mark.processes]
IMAGES = 60  # more than IMPORT_INLINE_MAX_FILES (50)


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(IMAGES):
            buffer = io.BytesIO()
            Image.new("RGB", (32, 24), (i * 4, 120, 200 - i * 3)).save(buffer, format="PNG")
            archive.writestr(f"look/{i}.png", buffer.getvalue())
        archive.writestr("look/broken.png", b"not an image")
    return path


def test_a_large_archive_shows_its_progress_then_its_report(
    live_server: str, admin_page: Page, tmp_path: Path
) -> None:
    page = admin_page
    page.goto(f"{live_server}/brands/maison/assets")
    expect(page.locator(".empty")).to_be_visible()
    page.set_input_files("#files", str(_zip(tmp_path / "spring.zip")))

    job = page.locator("#upload-report section.import")
    expect(job).to_contain_text(f"0 of {IMAGES + 1} files")
    expect(job.locator(".badge")).to_have_text("queued")
    expect(job.locator("progress")).to_have_attribute("max", str(IMAGES + 1))

    env = {  # the live server's embedded installation
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'atelier.db'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "STORAGE_URL": f"file://{tmp_path / 'blobs'}",
    }
    with worker_process(env, tmp_path / "worker.log", queues="cpu"):
        summary = page.locator("#upload-report .report .summary")
        expect(summary).to_contain_text(f"{IMAGES} added", timeout=90_000)
    expect(summary).to_contain_text("1 refused")
    expect(job.locator(".badge")).to_have_text("succeeded")
    expect(page.locator("#upload-report li.bad")).to_contain_text("spring.zip: look/broken.png")
    # The gallery and its counts follow the import, without a reload.
    expect(page.locator("#grid .tile")).to_have_count(6)
    expect(page.locator("#counts")).to_have_text(
        f"0 approved · {IMAGES} awaiting review · 0 rejected"
    )
