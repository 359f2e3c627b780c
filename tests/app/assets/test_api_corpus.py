"""Every file of the generated corpus through the real upload endpoint: odd-but-valid files are
accepted with the right metadata, bad ones refused with a reason, and a refusal leaves no row
and no blob behind."""

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.brands.models import Brand
from app.storage import LocalBlobStore
from tests import corpus

UPLOAD = "/api/v1/brands/maison/assets"

ODD_BUT_VALID = {
    "cmyk.jpg": (corpus.cmyk_jpeg, "JPEG", "CMYK"),
    "deep.png": (corpus.png_16bit, "PNG", None),
    "animated.gif": (corpus.animated_gif, "GIF", "P"),
    "rotated.jpg": (corpus.exif_rotated_jpeg, "JPEG", "RGB"),
    "palette.png": (corpus.palette_png_transparent, "PNG", "P"),
    "alpha.png": (corpus.rgba_png, "PNG", "RGBA"),
    "photo.bmp": (corpus.bmp, "BMP", "RGB"),
    "scan.tiff": (corpus.tiff, "TIFF", "RGB"),
    "web.webp": (corpus.webp, "WEBP", "RGB"),
    "png-named.jpg": (corpus.png, "PNG", "RGB"),
}

BAD = {
    "empty.jpg": (lambda: b"", "empty"),
    "truncated.jpg": (lambda: corpus.truncated(corpus.noisy_jpeg()), "truncated"),
    "bomb.png": (corpus.png_bomb, "limit"),
    "frames.gif": (corpus.gif_frame_bomb, ""),
    "notes.png": (corpus.text_file, "not an image"),
    "brochure.jpg": (corpus.pdf_file, "not an image"),
}


def _upload(client: TestClient, name: str, data: bytes) -> dict:
    response = client.post(UPLOAD, files=[("files", (name, data))])
    assert response.status_code == 200, response.text
    return response.json()


def _nothing_left(session: Session, store: LocalBlobStore) -> None:
    session.commit()
    assert session.scalar(select(func.count()).select_from(Asset)) == 0
    assert store.list_keys() == []


@pytest.mark.parametrize("name", sorted(ODD_BUT_VALID))
def test_odd_but_valid_files_are_accepted(client: TestClient, brand: Brand, name: str) -> None:
    make, fmt, mode = ODD_BUT_VALID[name]
    body = _upload(client, name, make())
    [accepted] = body["accepted"]
    assert accepted["asset"]["format"] == fmt
    if mode:
        assert accepted["asset"]["mode"] == mode
    thumbnail = client.get(accepted["asset"]["thumbnail_url"]).content
    assert Image.open(io.BytesIO(thumbnail)).mode == "RGB"


def test_exif_rotation_is_applied_to_the_recorded_size(client: TestClient, brand: Brand) -> None:
    data = corpus.exif_rotated_jpeg()
    stored = Image.open(io.BytesIO(data))
    asset = _upload(client, "rotated.jpg", data)["accepted"][0]["asset"]
    assert (asset["width"], asset["height"]) == (stored.height, stored.width)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_refused_and_leave_nothing(
    client: TestClient, brand: Brand, session: Session, store: LocalBlobStore, name: str
) -> None:
    make, reason = BAD[name]
    body = _upload(client, name, make())
    assert body["accepted"] == [] and body["duplicates"] == []
    [rejected] = body["rejected"]
    assert rejected["filename"] == name
    assert reason in rejected["error"]
    _nothing_left(session, store)


def test_zip_bomb_is_refused(
    client: TestClient, brand: Brand, settings, session: Session, store: LocalBlobStore
) -> None:
    settings.MAX_ARCHIVE_UNCOMPRESSED_BYTES = 5 * 1024**2
    body = _upload(client, "bomb.zip", corpus.zip_of_zeros(size=20 * 1024**2))
    assert body["accepted"] == []
    assert body["rejected"][0]["filename"] == "bomb.zip"
    _nothing_left(session, store)


@pytest.mark.parametrize(
    "archive",
    [
        pytest.param(lambda: corpus.zip_symlink(), id="symlink"),
        pytest.param(lambda: corpus.zip_encrypted(data=corpus.png()), id="encrypted"),
        pytest.param(lambda: corpus.zip_lying_size(), id="lying-size"),
        pytest.param(
            lambda: corpus.zip_archive(
                [("inner.zip", corpus.zip_archive([("a.png", corpus.png())]))]
            ),
            id="nested",
        ),
        pytest.param(lambda: corpus.zip_archive([("../../evil.png", corpus.png())]), id="zip-slip"),
        pytest.param(lambda: corpus.zip_archive([("C:\\evil.png", corpus.png())]), id="drive"),
    ],
)
def test_hostile_archive_members_are_refused(
    client: TestClient, brand: Brand, session: Session, store: LocalBlobStore, archive
) -> None:
    body = _upload(client, "hostile.zip", archive())
    assert body["accepted"] == []
    assert body["rejected"] and all(r["error"] for r in body["rejected"])
    _nothing_left(session, store)


def test_too_many_members_refuse_the_archive(client: TestClient, brand: Brand, settings) -> None:
    settings.MAX_ARCHIVE_MEMBERS = 3
    members = [(f"{i}.png", corpus.png(colour=(i, i, i))) for i in range(5)]
    body = _upload(client, "many.zip", corpus.zip_archive(members))
    assert body["accepted"] == []
    assert "5" in body["rejected"][0]["error"]


def test_archive_keeps_good_members_beside_bad(client: TestClient, brand: Brand) -> None:
    members = [
        ("good.png", corpus.png()),
        ("bad.png", corpus.text_file()),
        ("also.jpg", corpus.jpeg()),
        ("../evil.png", corpus.bmp()),
    ]
    body = _upload(
        client, "mixed.zip", corpus.zip_archive(members, compression=zipfile.ZIP_DEFLATED)
    )
    assert sorted(a["filename"] for a in body["accepted"]) == [
        "mixed.zip: also.jpg",
        "mixed.zip: good.png",
    ]
    assert len(body["rejected"]) == 2
