"""Label Studio imports: exports shaped like the real ones (a captioning project with TextArea,
a tagging project with Choices and Taxonomy) come in as captioned, tagged assets; what cannot
come in is reported; a file that is not an export is refused whole, leaving nothing behind."""

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.audit.models import AuditEvent
from app.brands.models import Brand
from app.storage import LocalBlobStore
from tests import corpus

IMPORT = "/api/v1/brands/maison/imports/label-studio"
TOTE, CLUTCH, SCARF = (
    corpus.jpeg(colour=(120, 20, 30)),
    corpus.png(colour=(10, 10, 10)),
    corpus.webp(colour=(200, 180, 20)),
)


def task(task_id: int, image: str, *annotations: dict) -> dict:
    """A task as Label Studio's JSON export writes it (the fields we do not read included)."""
    return {
        "id": task_id,
        "annotations": list(annotations),
        "file_upload": image.rsplit("/", 1)[-1],
        "drafts": [],
        "predictions": [],
        "data": {"image": image},
        "meta": {},
        "created_at": "2025-03-01T10:00:00.000000Z",
        "updated_at": "2025-03-02T10:00:00.000000Z",
        "inner_id": task_id,
        "total_annotations": len(annotations),
        "cancelled_annotations": sum(a["was_cancelled"] for a in annotations),
        "project": 3,
    }


def annotation(annotation_id: int, updated: str, *results: dict, cancelled: bool = False) -> dict:
    return {
        "id": annotation_id,
        "completed_by": 1,
        "result": list(results),
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": updated,
        "updated_at": updated,
        "lead_time": 12.5,
        "task": 1,
    }


def textarea(*lines: str) -> dict:
    return {
        "value": {"text": list(lines)},
        "id": "aB3dE5fG7h",
        "from_name": "caption",
        "to_name": "image",
        "type": "textarea",
        "origin": "manual",
    }


def choices(*picks: str) -> dict:
    return {
        "value": {"choices": list(picks)},
        "id": "Zx9Yw8Vu7t",
        "from_name": "tags",
        "to_name": "image",
        "type": "choices",
        "origin": "manual",
    }


def taxonomy(*paths: list[str]) -> dict:
    return {
        "value": {"taxonomy": list(paths)},
        "id": "Qp1Rs2Tu3v",
        "from_name": "category",
        "to_name": "image",
        "type": "taxonomy",
        "origin": "manual",
    }


def post(client: TestClient, export: object, *files: tuple[str, bytes]):  # type: ignore[no-untyped-def]
    raw = export if isinstance(export, bytes) else json.dumps(export).encode()
    return client.post(
        IMPORT,
        files=[("file", ("project-3-at-2025-03-02.json", raw, "application/json"))]
        + [("files", f) for f in files],
    )


def by_name(body: dict) -> dict[str, dict]:
    return {f["filename"]: f["asset"] for f in body["accepted"]}


def test_a_captioning_project_takes_each_tasks_latest_kept_caption(
    client: TestClient, brand: Brand, session: Session
) -> None:
    export = [
        task(
            1,
            "/data/upload/3/1a2b3c4d-tote.jpg",
            annotation(11, "2025-03-02T09:00:00Z", textarea("An older caption.")),
            annotation(12, "2025-03-02T11:00:00Z", textarea("Camille tote", "in burgundy.")),
            annotation(13, "2025-03-02T12:00:00Z", textarea("Skipped."), cancelled=True),
        ),
        # Exported from cloud storage: a URL; the file uploaded under Label Studio's own name.
        task(
            2,
            "https://bucket.example/shoots/9f8e7d6c-clutch.png?X-Amz-Signature=abc",
            annotation(21, "2025-03-02T09:00:00Z", textarea("Étoile clutch.")),
        ),
    ]
    response = post(client, export, ("tote.jpg", TOTE), ("9f8e7d6c-clutch.png", CLUTCH))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == [] and body["duplicates"] == []
    assets = by_name(body)
    assert assets["tote.jpg"]["caption"] == "Camille tote in burgundy."
    assert assets["9f8e7d6c-clutch.png"]["caption"] == "Étoile clutch."
    assert assets["tote.jpg"]["status"] == "pending"  # imported, not yet reviewed
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "assets.import")).one()
    assert (event.detail["tasks"], event.detail["accepted"]) == (2, 2)


def test_a_tagging_project_with_choices_and_taxonomy_from_a_zip(
    client: TestClient, brand: Brand
) -> None:
    export = [
        task(
            7,
            "/data/local-files/?d=shoot%2Fspring%2Ftote.jpg",
            annotation(
                71,
                "2025-03-02T09:00:00Z",
                choices("Tote", "Burgundy"),
                taxonomy(["Leather", "Calfskin"], ["Season", "Spring"]),
            ),
        ),
        task(8, "/data/upload/3/0badc0de-scarf.webp"),  # not annotated yet: no caption, no tags
    ]
    images = corpus.zip_archive([("spring/tote.jpg", TOTE), ("spring/scarf.webp", SCARF)])
    body = post(client, export, ("spring.zip", images)).json()
    assert body["rejected"] == []
    assets = by_name(body)
    tote = assets["spring.zip: spring/tote.jpg"]
    assert sorted(tote["tags"]) == ["burgundy", "calfskin", "spring", "tote"]
    assert tote["caption"] == ""
    assert assets["spring.zip: spring/scarf.webp"]["tags"] == []


def test_what_cannot_come_in_is_reported_with_its_reason(client: TestClient, brand: Brand) -> None:
    export = [
        task(1, "/data/upload/3/1a2b3c4d-tote.jpg", annotation(1, "t", textarea("Tote."))),
        task(2, "/data/upload/3/5e6f7a8b-missing.jpg", annotation(2, "t", textarea("Gone."))),
        {"id": 3, "data": {"text": "a text task"}, "annotations": []},
    ]
    body = post(client, export, ("tote.jpg", TOTE), ("stray.png", CLUTCH)).json()
    assert list(by_name(body)) == ["tote.jpg"]
    assert {r["filename"]: r["error"] for r in body["rejected"]} == {
        "task 2: 5e6f7a8b-missing.jpg": "its image was not among the uploaded files",
        "task 3": "its data names no image file",
        "stray.png": "no task of the Label Studio export names this image",
    }


def test_an_image_already_in_the_library_is_a_duplicate(client: TestClient, brand: Brand) -> None:
    client.post("/api/v1/brands/maison/assets", files=[("files", ("first.jpg", TOTE))])
    export = [task(1, "/data/upload/3/1a2b3c4d-tote.jpg", annotation(1, "t", textarea("T.")))]
    body = post(client, export, ("tote.jpg", TOTE)).json()
    assert [d["filename"] for d in body["duplicates"]] == ["tote.jpg"]


def count(session: Session, model: type) -> int:
    session.commit()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_file_that_is_not_an_export_is_refused_whole(
    client: TestClient, brand: Brand, session: Session, store: LocalBlobStore
) -> None:
    cases = {
        b'[{"id": 1, "data": {"image": "a.jpg"}, ': "not valid JSON (line 1",
        b'{"tasks": []}': "is a list of tasks",
        b'[{"id": 1, "annotations": []}]': 'task #1 of the Label Studio export has no "data"',
        b"\xff\xfe not text": "not UTF-8",
    }
    for raw, reason in cases.items():
        response = post(client, raw, ("tote.jpg", TOTE))
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    assert count(session, Asset) == 0
    assert store.list_keys() == []
