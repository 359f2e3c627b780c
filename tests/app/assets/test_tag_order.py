"""Tags keep the order the person gave them: in the API, on the pages, in a frozen dataset and
in an export; a reorder alone is not new dataset content."""

import csv
import io
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.brands.models import Brand
from app.migrate import db_upgrade
from tests.app.assets.test_api import archive, png, upload


def _tagged(client: TestClient, colour: str, tags: list[str]) -> dict:
    asset = upload(client, (f"{colour}.png", png(colour)))["accepted"][0]["asset"]
    response = client.patch(
        f"/api/v1/assets/{asset['id']}", json={"tags": tags, "status": "approved"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_tags_come_back_in_the_order_given(client: TestClient, brand: Brand) -> None:
    manifest = b"file,caption,tags\na.png,Odette scarf,scarf;navy;silk\n"
    body = upload(client, ("batch.zip", archive({"a.png": png(), "manifest.csv": manifest})))
    asset = body["accepted"][0]["asset"]
    assert asset["tags"] == ["scarf", "navy", "silk"]
    assert client.get(f"/api/v1/assets/{asset['id']}").json()["tags"] == ["scarf", "navy", "silk"]

    client.patch(f"/api/v1/assets/{asset['id']}", json={"tags": ["silk", "Scarf", "navy"]})
    assert client.get(f"/api/v1/assets/{asset['id']}").json()["tags"] == ["silk", "scarf", "navy"]
    listed = client.get("/api/v1/brands/maison/assets").json()["items"][0]
    assert listed["tags"] == ["silk", "scarf", "navy"]
    detail = client.get(f"/brands/maison/assets/{asset['id']}").text
    assert 'value="silk, scarf, navy"' in detail


def test_the_page_form_keeps_the_typed_order(client: TestClient, brand: Brand) -> None:
    asset = upload(client, ("a.png", png()))["accepted"][0]["asset"]
    page = client.get("/brands/maison/assets").text
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    client.post(
        f"/brands/maison/assets/{asset['id']}",
        data={"caption": "", "tags": "tote, burgundy, calfskin", "csrf_token": csrf},
    )
    assert client.get(f"/api/v1/assets/{asset['id']}").json()["tags"] == [
        "tote",
        "burgundy",
        "calfskin",
    ]


def test_frozen_items_and_exports_keep_the_order(client: TestClient, brand: Brand) -> None:
    first = _tagged(client, "navy", ["tote", "burgundy"])
    _tagged(client, "teal", ["scarf", "teal"])
    dataset = client.post("/api/v1/brands/maison/datasets").json()
    items = client.get("/api/v1/brands/maison/datasets/1").json()["items"]
    assert sorted(i["tags"] for i in items) == [["scarf", "teal"], ["tote", "burgundy"]]

    exported = client.get("/api/v1/brands/maison/export", params={"format": "csv"})
    with zipfile.ZipFile(io.BytesIO(exported.content)) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert sorted(r["tags"] for r in rows) == ["scarf;teal", "tote;burgundy"]

    # The order is how a person reads the tags, not what the dataset holds: a reorder alone
    # freezes into the same version, with the same content hash.
    client.patch(f"/api/v1/assets/{first['id']}", json={"tags": ["burgundy", "tote"]})
    again = client.post("/api/v1/brands/maison/datasets")
    assert again.status_code == 200
    assert again.json()["content_hash"] == dataset["content_hash"]


def test_links_made_before_the_migration_keep_their_alphabetical_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db_upgrade(url, "0007")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO brands (id, slug, name, created_at) VALUES (1, 'b', 'B', '2026-01-01')"
            )
        )
        for id, name in [(1, "tote"), (2, "burgundy"), (3, "calfskin")]:
            connection.execute(
                text(f"INSERT INTO tags (id, brand_id, name) VALUES ({id}, 1, '{name}')")
            )
        connection.execute(
            text(
                "INSERT INTO assets (id, brand_id, sha256, filename, format, mode, width, height,"
                " size_bytes, caption, status, created_at, updated_at) VALUES (1, 1, 'x', 'a.png',"
                " 'PNG', 'RGB', 1, 1, 1, '', 'pending', '2026-01-01', '2026-01-01')"
            )
        )
        for tag_id in (1, 2, 3):
            connection.execute(text(f"INSERT INTO asset_tags VALUES (1, {tag_id})"))
    db_upgrade(url, "0008")
    with engine.connect() as connection:
        rows = (
            connection.execute(
                text("SELECT name FROM asset_tags JOIN tags ON tags.id = tag_id ORDER BY position")
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert rows == ["burgundy", "calfskin", "tote"]
