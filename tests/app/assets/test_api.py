"""The upload, list and edit API: every acceptance and rejection path, and that a refusal
leaves no rows and no blobs behind."""

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assets.images import readable_size
from app.assets.models import Asset, Tag
from app.brands.models import Brand
from app.storage import LocalBlobStore

UPLOAD = "/api/v1/brands/maison/assets"


def png(colour: str = "navy", size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def upload(client: TestClient, *files: tuple[str, bytes]) -> dict:
    response = client.post(UPLOAD, files=[("files", f) for f in files])
    assert response.status_code == 200, response.text
    return response.json()


def count(session: Session, model: type) -> int:
    session.commit()  # a fresh snapshot (see the `session` fixture)
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_images_are_accepted_with_metadata_and_blobs(
    client: TestClient, brand: Brand, store: LocalBlobStore
) -> None:
    body = upload(client, ("a.png", png("navy", (40, 30))), ("b.png", png("ivory")))
    assert [f["filename"] for f in body["accepted"]] == ["a.png", "b.png"]
    assert body["duplicates"] == [] and body["rejected"] == []
    first = body["accepted"][0]["asset"]
    assert (first["format"], first["width"], first["height"]) == ("PNG", 40, 30)
    assert first["status"] == "pending"
    assert len(store.list_keys()) == 4  # an original and a thumbnail each
    original = client.get(first["original_url"])
    assert original.headers["content-type"] == "image/png"
    assert original.content == png("navy", (40, 30))
    thumbnail = client.get(first["thumbnail_url"])
    assert Image.open(io.BytesIO(thumbnail.content)).format == "WEBP"


def test_same_bytes_are_stored_once_and_reported_duplicate(
    client: TestClient, brand: Brand, session: Session, store: LocalBlobStore
) -> None:
    first = upload(client, ("a.png", png()))
    again = upload(client, ("copy.png", png()), ("again.png", png()))
    assert again["accepted"] == []
    assert [d["filename"] for d in again["duplicates"]] == ["copy.png", "again.png"]
    assert again["duplicates"][0]["asset"]["id"] == first["accepted"][0]["asset"]["id"]
    assert count(session, Asset) == 1
    assert len(store.list_keys()) == 2


def test_same_bytes_in_two_brands_are_two_assets(client: TestClient, brand: Brand) -> None:
    client.post("/api/v1/brands", json={"slug": "other", "name": "Other"})
    upload(client, ("a.png", png()))
    other = client.post("/api/v1/brands/other/assets", files=[("files", ("a.png", png()))])
    assert len(other.json()["accepted"]) == 1


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.png", b"", "empty"),
        ("notes.jpg", b"just some text, not a picture", "not an image"),
        ("truncated.png", png()[:60], "truncated"),
        ("doc.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "not an image"),
    ],
)
def test_bad_files_are_rejected_and_leave_nothing(
    client: TestClient,
    brand: Brand,
    session: Session,
    store: LocalBlobStore,
    name: str,
    data: bytes,
    reason: str,
) -> None:
    body = upload(client, (name, data))
    assert body["accepted"] == []
    assert body["rejected"][0]["filename"] == name
    assert reason in body["rejected"][0]["error"]
    assert count(session, Asset) == 0
    assert store.list_keys() == []


def test_one_bad_file_does_not_lose_the_good_ones(
    client: TestClient, brand: Brand, session: Session
) -> None:
    body = upload(client, ("good.png", png()), ("bad.png", b"nope"), ("fine.png", png("red")))
    assert [f["filename"] for f in body["accepted"]] == ["good.png", "fine.png"]
    assert [f["filename"] for f in body["rejected"]] == ["bad.png"]
    assert count(session, Asset) == 2


def test_oversized_file_is_rejected(client: TestClient, brand: Brand, settings) -> None:
    settings.MAX_FILE_BYTES = 1000
    body = upload(client, ("big.png", png(size=(400, 400)) + b"\0" * 2000))
    assert "MB" in body["rejected"][0]["error"] or "limit" in body["rejected"][0]["error"]


def test_request_over_the_body_limit_is_refused_whole(
    brand: Brand, settings, session: Session, store: LocalBlobStore, operator_token: str
) -> None:
    from app.main import create_app

    limited = create_app(settings.model_copy(update={"MAX_REQUEST_BYTES": 10_000}))
    headers = {"Authorization": f"Bearer {operator_token}"}
    with TestClient(limited, headers=headers) as client:
        response = client.post(
            UPLOAD, files=[("files", ("a.png", png())), ("files", ("b.bin", b"\1" * 20_000))]
        )
        assert response.status_code == 413

        def chunks():  # no Content-Length: the limit is counted as the body arrives
            yield b"--x\r\nContent-Disposition: form-data; name=files; filename=a.png\r\n\r\n"
            for _ in range(30):
                yield b"\0" * 1000

        streamed = client.post(
            UPLOAD, content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert streamed.status_code == 413
    assert count(session, Asset) == 0
    assert store.list_keys() == []


def test_zip_with_csv_manifest(client: TestClient, brand: Brand, session: Session) -> None:
    data = archive(
        {
            "a.png": png("navy"),
            "b.png": png("ivory"),
            "c.png": png("teal"),
            "manifest.csv": b"file,caption,tags\n"
            b"a.png,Odette scarf in midnight navy,scarf;navy\n"
            b"b.png,Camille tote in ivory calfskin,tote|ivory|calfskin\n"
            b"missing.png,nothing,x\n",
        }
    )
    body = upload(client, ("batch.zip", data))
    accepted = {f["filename"]: f["asset"] for f in body["accepted"]}
    assert accepted["batch.zip: a.png"]["caption"] == "Odette scarf in midnight navy"
    assert accepted["batch.zip: a.png"]["tags"] == ["scarf", "navy"]
    assert accepted["batch.zip: b.png"]["tags"] == ["tote", "ivory", "calfskin"]
    assert (
        accepted["batch.zip: c.png"]["caption"] == "" and accepted["batch.zip: c.png"]["tags"] == []
    )
    [rejected] = body["rejected"]
    assert "line 4" in rejected["filename"]
    assert "missing.png" in rejected["error"]
    assert count(session, Tag) == 5


def test_zip_with_jsonl_manifest_and_bad_lines(client: TestClient, brand: Brand) -> None:
    lines = [
        json.dumps({"file": "a.png", "caption": "Margaux pump", "tags": ["pump", "blush"]}),
        "{not json",
        json.dumps({"caption": "no file"}),
    ]
    data = archive({"a.png": png(), "manifest.jsonl": "\n".join(lines).encode()})
    body = upload(client, ("set.zip", data))
    assert body["accepted"][0]["asset"]["caption"] == "Margaux pump"
    assert sorted(r["filename"] for r in body["rejected"]) == [
        "set.zip: manifest.jsonl line 2",
        "set.zip: manifest.jsonl line 3",
    ]


def test_zip_with_coco_captions(client: TestClient, brand: Brand) -> None:
    coco = {
        "images": [{"id": 7, "file_name": "a.png"}],
        "annotations": [{"image_id": 7, "caption": "Bastien loafer in cognac suede"}],
    }
    data = archive({"a.png": png(), "captions.json": json.dumps(coco).encode()})
    body = upload(client, ("coco.zip", data))
    assert body["accepted"][0]["asset"]["caption"] == "Bastien loafer in cognac suede"


def test_zip_slip_members_are_refused(
    client: TestClient, brand: Brand, store: LocalBlobStore, tmp_path
) -> None:
    data = archive({"../evil.png": png("red"), "/abs.png": png("blue"), "ok.png": png()})
    body = upload(client, ("slip.zip", data))
    assert [f["filename"] for f in body["accepted"]] == ["slip.zip: ok.png"]
    assert len(body["rejected"]) == 2
    assert not (tmp_path / "evil.png").exists()
    assert all(key.startswith("brands/") for key in store.list_keys())


def test_not_a_zip_behind_a_zip_name_is_an_image_or_nothing(
    client: TestClient, brand: Brand
) -> None:
    body = upload(client, ("photo.zip", png()), ("broken.zip", b"PK\x03\x04garbage"))
    assert [f["filename"] for f in body["accepted"]] == ["photo.zip"]
    assert body["rejected"][0]["filename"] == "broken.zip"


def test_failed_request_rolls_back_rows_and_blobs(
    client: TestClient, brand: Brand, session: Session, store: LocalBlobStore, app
) -> None:
    """A crash after some files were stored leaves neither their rows nor their blobs."""
    from app.assets import views

    original = views.asset_ingest
    calls = []

    def crash_on_second(**kwargs):
        calls.append(kwargs["filename"])
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return original(**kwargs)

    views.asset_ingest = crash_on_second
    try:
        with pytest.raises(RuntimeError):
            client.post(
                UPLOAD, files=[("files", ("a.png", png())), ("files", ("b.png", png("red")))]
            )
    finally:
        views.asset_ingest = original
    assert count(session, Asset) == 0
    assert store.list_keys() == []


def test_empty_request_is_refused(client: TestClient, brand: Brand) -> None:
    assert client.post(UPLOAD).status_code == 422


def test_list_filters_and_cursor(client: TestClient, brand: Brand) -> None:
    colours = ["navy", "ivory", "teal", "red", "black"]
    lines = "".join(f"{c}.png,Tote in {c},tote;{c}\n" for c in colours)
    data = archive(
        {
            **{f"{c}.png": png(c) for c in colours},
            "manifest.csv": f"file,caption,tags\n{lines}".encode(),
        }
    )
    upload(client, ("set.zip", data))
    first = client.get(UPLOAD, params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(UPLOAD, params={"limit": 2, "cursor": cursor}).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == sorted(seen, reverse=True) and len(seen) == 5
    assert [i["caption"] for i in client.get(UPLOAD, params={"tag": "teal"}).json()["items"]] == [
        "Tote in teal"
    ]
    assert len(client.get(UPLOAD, params={"q": "IVO"}).json()["items"]) == 1
    assert len(client.get(UPLOAD, params={"q": "100%_"}).json()["items"]) == 0
    assert len(client.get(UPLOAD, params={"status": "approved"}).json()["items"]) == 0
    assert client.get(UPLOAD, params={"status": "bogus"}).status_code == 422
    assert client.get(UPLOAD, params={"cursor": "abc"}).status_code == 422


def test_patch_caption_tags_status(client: TestClient, brand: Brand) -> None:
    asset = upload(client, ("a.png", png()))["accepted"][0]["asset"]
    response = client.patch(
        f"/api/v1/assets/{asset['id']}",
        json={
            "caption": "Camille tote in burgundy calfskin",
            "tags": ["Tote", "burgundy", " tote "],
            "status": "approved",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tags"] == ["tote", "burgundy"] and body["status"] == "approved"
    assert client.patch(f"/api/v1/assets/{asset['id']}", json={"status": "lost"}).status_code == 422
    assert (
        client.patch(f"/api/v1/assets/{asset['id']}", json={"tags": ["x" * 101]}).status_code == 422
    )
    assert client.get(f"/api/v1/assets/{asset['id']}").json()["caption"] == body["caption"]
    assert client.get("/api/v1/assets/999999").status_code == 404


def test_asset_page_of_another_brand_is_404(client: TestClient, brand: Brand) -> None:
    client.post("/api/v1/brands", json={"slug": "other", "name": "Other"})
    asset = upload(client, ("a.png", png()))["accepted"][0]["asset"]
    assert client.get(f"/brands/maison/assets/{asset['id']}").status_code == 200
    assert client.get(f"/brands/other/assets/{asset['id']}").status_code == 404


def test_refreshing_the_gallery_results_refreshes_the_counts_and_the_tag_list(
    client: TestClient, brand: Brand
) -> None:
    manifest = b"file,caption,tags\na.png,Odette scarf in navy,scarf;navy\n"
    upload(client, ("batch.zip", archive({"a.png": png(), "manifest.csv": manifest})))
    htmx = {"HX-Request": "true", "HX-Target": "results"}
    swap = client.get("/brands/maison/assets", headers=htmx).text
    assert swap.lstrip().startswith('<section id="results">')
    assert '<p id="counts" class="muted" hx-swap-oob="true">0 approved · 1 awaiting review' in swap
    assert '<select id="tag-filter" name="tag" aria-label="Tag" hx-swap-oob="true"' in swap
    assert '<option value="navy" >navy</option>' in swap
    whole = client.get("/brands/maison/assets").text
    assert "hx-swap-oob" not in whole and whole.count('id="tag-filter"') == 1


def test_archives_of_one_upload_share_its_unpacked_limit(
    client: TestClient, brand: Brand, settings, session: Session, store: LocalBlobStore
) -> None:
    first = archive({"a.png": png("red"), "b.png": png("blue")})
    second = archive({"c.png": png("green")})
    settings.MAX_REQUEST_UNPACKED_BYTES = len(png("red")) + len(png("blue")) + 10
    body = upload(client, ("first.zip", first), ("second.zip", second))
    # Every file answered: the first archive's images stand, the second is refused whole.
    assert [f["filename"] for f in body["accepted"]] == ["first.zip: a.png", "first.zip: b.png"]
    assert body["rejected"] == [
        {
            "filename": "second.zip",
            "error": "with the archives before it, this upload unpacks to more than the "
            f"{readable_size(settings.MAX_REQUEST_UNPACKED_BYTES)} limit of one upload; "
            "send it in another upload",
        }
    ]
    assert count(session, Asset) == 2
    assert len(store.list_keys()) == 4  # two originals, two thumbnails
