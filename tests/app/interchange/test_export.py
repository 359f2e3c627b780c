"""Exports: each format's zip re-imported through the asset upload into a second brand gives
the same images, captions and tags; a dataset's export is that version, frozen, with its split;
another brand's people and datasets stay out of sight."""

import csv
import hashlib
import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.audit.models import AuditEvent
from app.brands.models import Brand
from app.brands.service import brand_create
from app.runs.settings import DEFAULT_INSTRUCTION
from tests import corpus
from tests.app.members.test_members import bearer_for

EXPORT = "/api/v1/brands/maison/export"
# Captions a CSV must quote; tags with spaces; one image without a caption.
CATALOGUE = {
    "tote.jpg": (
        corpus.jpeg(colour=(120, 20, 30)),
        'Camille tote, "burgundy" calfskin',
        "tote;burgundy;calfskin",
    ),
    "clutch.png": (
        corpus.png(colour=(10, 10, 10)),
        "Étoile clutch\nin black satin",
        "clutch;black",
    ),
    "scarf.webp": (corpus.webp(colour=(200, 180, 20)), "", "scarf;dark yellow"),
    "pending.jpg": (corpus.jpeg(colour=(1, 200, 1)), "not reviewed yet", "draft"),
}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_zip() -> bytes:
    rows = [{"file": n, "caption": c, "tags": t} for n, (_, c, t) in CATALOGUE.items()]
    manifest = "".join(json.dumps(row) + "\n" for row in rows).encode()
    return corpus.zip_archive(
        [("manifest.jsonl", manifest)] + [(n, data) for n, (data, _, _) in CATALOGUE.items()]
    )


def ingest_and_approve(client: TestClient, slug: str = "maison") -> dict[str, dict]:
    """The catalogue uploaded into the brand, every image but pending.jpg approved."""
    body = client.post(
        f"/api/v1/brands/{slug}/assets", files=[("files", ("shoot.zip", manifest_zip()))]
    ).json()
    assert body["rejected"] == [] and len(body["accepted"]) == len(CATALOGUE)
    assets = {f["filename"].split(": ")[1]: f["asset"] for f in body["accepted"]}
    for name, asset in assets.items():
        if name != "pending.jpg":
            response = client.patch(f"/api/v1/assets/{asset['id']}", json={"status": "approved"})
            assert response.status_code == 200
    return assets


def library(client: TestClient, slug: str) -> dict[str, tuple[str, list[str]]]:
    """A brand's assets as sha256 -> (caption, sorted tags)."""
    items = client.get(f"/api/v1/brands/{slug}/assets").json()["items"]
    return {a["sha256"]: (a["caption"], sorted(a["tags"])) for a in items}


def export(client: TestClient, query: str) -> bytes:
    """The zip an export answers, checked to be one."""
    response = client.get(f"{EXPORT}?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def exported(client: TestClient, query: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(export(client, query)))


@pytest.fixture
def copy(client: TestClient, brand: Brand) -> str:
    response = client.post("/api/v1/brands", json={"slug": "copy", "name": "Copy"})
    assert response.status_code == 201
    return "copy"


@pytest.mark.parametrize(
    ("fmt", "manifest"),
    [("csv", "manifest.csv"), ("jsonl", "manifest.jsonl"), ("coco", "captions.json")],
)
def test_export_round_trips_through_the_asset_upload(
    client: TestClient, copy: str, fmt: str, manifest: str
) -> None:
    assets = ingest_and_approve(client)
    data = export(client, f"format={fmt}")
    archive = zipfile.ZipFile(io.BytesIO(data))
    approved = {a["sha256"] for n, a in assets.items() if n != "pending.jpg"}
    images = {n for n in archive.namelist() if n.startswith("images/")}
    assert set(archive.namelist()) == {manifest} | images
    assert {n.split("/")[1].split(".")[0] for n in images} == approved
    for name in images:  # the original bytes, named by their hash
        assert sha256_of(archive.read(name)) == name.split("/")[1].split(".")[0]

    response = client.post(f"/api/v1/brands/{copy}/assets", files=[("files", ("export.zip", data))])
    body = response.json()
    assert body["rejected"] == [] and len(body["accepted"]) == 3
    original = library(client, "maison")
    assert library(client, copy) == {h: original[h] for h in approved}


def test_csv_and_jsonl_manifests_read_as_documented(client: TestClient, brand: Brand) -> None:
    assets = ingest_and_approve(client)
    tote = assets["tote.jpg"]
    rows = list(
        csv.DictReader(io.StringIO(exported(client, "format=csv").read("manifest.csv").decode()))
    )
    assert list(rows[0]) == ["file", "caption", "tags"]  # no split outside a dataset
    row = next(r for r in rows if tote["sha256"] in r["file"])
    assert row == {
        "file": f"images/{tote['sha256']}.jpg",
        "caption": 'Camille tote, "burgundy" calfskin',
        "tags": "tote;burgundy;calfskin",
    }
    lines = exported(client, "format=jsonl").read("manifest.jsonl").decode().splitlines()
    record = next(json.loads(line) for line in lines if tote["sha256"] in line)
    assert record == {
        "file": row["file"],
        "caption": row["caption"],
        "tags": ["tote", "burgundy", "calfskin"],
    }


def test_sharegpt_is_what_llama_factory_reads(client: TestClient, brand: Brand) -> None:
    ingest_and_approve(client)
    archive = exported(client, "format=sharegpt")
    info = json.loads(archive.read("dataset_info.json"))
    assert info == {
        "maison": {
            "file_name": "maison.json",
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
            },
        }
    }
    examples = json.loads(archive.read("maison.json"))
    captions = library(client, "maison")
    assert len(examples) == 2  # the scarf has no caption to learn; pending.jpg is not reviewed
    for example in examples:
        user, assistant = example["messages"]
        assert user == {"role": "user", "content": f"<image>{DEFAULT_INSTRUCTION}"}
        assert assistant["role"] == "assistant"
        assert user["content"].count("<image>") == len(example["images"]) == 1
        [image] = example["images"]
        sha256 = sha256_of(archive.read(image))  # present in the zip, at that path
        assert image == f"images/{sha256}.{image.rsplit('.', 1)[1]}"
        assert assistant["content"] == captions[sha256][0]


def test_a_dataset_export_is_the_frozen_version_with_its_split(
    client: TestClient, copy: str
) -> None:
    assets = ingest_and_approve(client)
    frozen = client.post("/api/v1/brands/maison/datasets", json={"validation_fraction": 0.5})
    assert frozen.status_code == 201
    dataset = frozen.json()
    tote = assets["tote.jpg"]
    # After the freeze: a new caption for the tote, and one more image approved.
    client.patch(f"/api/v1/assets/{tote['id']}", json={"caption": "Edited later", "tags": ["x"]})
    client.patch(f"/api/v1/assets/{assets['pending.jpg']['id']}", json={"status": "approved"})

    data = export(client, f"format=csv&dataset_id={dataset['id']}")
    archive = zipfile.ZipFile(io.BytesIO(data))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    items = client.get(f"/api/v1/brands/maison/datasets/{dataset['version']}").json()["items"]
    assert {(r["file"].split("/")[1].split(".")[0], r["split"]) for r in rows} == {
        (i["sha256"], i["split"]) for i in items
    }
    assert {r["split"] for r in rows} == {"train", "validation"}
    [row] = [r for r in rows if tote["sha256"] in r["file"]]
    assert (row["caption"], row["tags"]) == (
        'Camille tote, "burgundy" calfskin',
        "tote;burgundy;calfskin",
    )

    body = client.post(f"/api/v1/brands/{copy}/assets", files=[("files", ("v1.zip", data))]).json()
    assert body["rejected"] == [] and len(body["accepted"]) == 3
    assert library(client, copy)[tote["sha256"]][0] == 'Camille tote, "burgundy" calfskin'

    coco = exported(client, f"format=coco&dataset_id={dataset['id']}")
    parts = {
        n: json.loads(coco.read(n)) for n in ("captions_train.json", "captions_validation.json")
    }
    assert sum(len(p["images"]) for p in parts.values()) == 3
    sharegpt = exported(client, f"format=sharegpt&dataset_id={dataset['id']}")
    assert set(json.loads(sharegpt.read("dataset_info.json"))) == {
        "maison-v1_train",
        "maison-v1_validation",
    }


def test_exports_are_audited(client: TestClient, brand: Brand, session: Session) -> None:
    ingest_and_approve(client)
    exported(client, "format=jsonl")
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "assets.export")).one()
    assert event.detail["format"] == "jsonl" and event.detail["images"] == 3


def test_nothing_approved_is_a_sentence_not_an_empty_zip(client: TestClient, brand: Brand) -> None:
    response = client.get(f"{EXPORT}?format=csv")
    assert response.status_code == 422
    assert "no approved image" in response.json()["detail"]
    assert client.get(f"{EXPORT}?format=xml").status_code == 422


def test_another_brands_dataset_and_people_get_404(
    client: TestClient, brand: Brand, copy: str, session: Session
) -> None:
    ingest_and_approve(client, slug=copy)
    theirs = client.post(f"/api/v1/brands/{copy}/datasets", json={"validation_fraction": 0.5})
    response = client.get(f"{EXPORT}?format=csv&dataset_id={theirs.json()['id']}")
    assert response.status_code == 404
    assert (
        client.get(
            f"/api/v1/brands/{copy}/export?format=csv&dataset_id={theirs.json()['id']}"
        ).status_code
        == 200
    )

    rival = brand_create(session=session, slug="rival", name="Rival")
    outsider = bearer_for(session, rival, "outsider@rival.test", Role.admin)
    assert client.get(f"{EXPORT}?format=csv", headers=outsider).status_code == 404
    imported = client.post(
        "/api/v1/brands/maison/imports/label-studio",
        headers=outsider,
        files=[("file", ("export.json", b"[]")), ("files", ("a.png", corpus.png()))],
    )
    assert imported.status_code == 404


def test_the_gallery_offers_the_export(client: TestClient, brand: Brand) -> None:
    ingest_and_approve(client)
    page = client.get("/brands/maison/assets").text
    assert 'method="post" action="/brands/maison/exports"' in page  # a background job
    for fmt in ("csv", "jsonl", "coco", "sharegpt"):
        assert f'<option value="{fmt}">' in page
