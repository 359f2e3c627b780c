"""Putting an adapter to work, without a worker: adapters and the active one, auto-tag jobs
sent after the commit, the review of suggestions (audited, and into the next dataset), their
flags, and tries."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.audit.models import AuditEvent
from app.autotag.models import AutotagJob, Suggestion, Try
from app.autotag.service import suggestion_flags
from app.brands.models import Brand
from app.leases import JobStatus
from app.runs.answers import answer_parse
from app.runs.models import Run
from app.styleguides.glossary import GuideTerms
from tests import corpus
from tests.app.members.test_members import bearer_for

ASSETS = "/api/v1/brands/maison/assets"


@pytest.fixture
def sent(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    """The jobs the web process sends (no worker here)."""
    jobs: list[tuple[str, list[int]]] = []
    monkeypatch.setattr(
        client.app.state.celery,  # type: ignore[attr-defined]
        "send_task",
        lambda name, args, queue: jobs.append((name, args)),
    )
    return jobs


def _upload(client: TestClient, n: int, start: int = 0) -> list[int]:
    files = [
        ("files", (f"{i}.png", corpus.png(colour=(i, 40, 90)))) for i in range(start, start + n)
    ]
    return [a["asset"]["id"] for a in client.post(ASSETS, files=files).json()["accepted"]]


@pytest.fixture
def adapter(client: TestClient, brand: Brand, session: Session) -> int:
    """A succeeded caption+tags run of the brand, whose adapter the tests put to work."""
    for asset_id in _upload(client, 2, start=100):
        client.patch(
            f"/api/v1/assets/{asset_id}",
            json={"status": "approved", "caption": "Camille tote", "tags": ["tote", "burgundy"]},
        )
    dataset = client.post("/api/v1/brands/maison/datasets").json()
    run = Run(
        brand_id=brand.id,
        base_model_id=1,
        dataset_id=dataset["id"],
        status=JobStatus.succeeded,
        name="catalogue",
        settings={"task": "caption+tags"},
        settings_hash="0" * 64,
        instruction="Describe this product, then list its tags.",
        adapter_key="runs/1/adapter.zip",
        adapter_sha256="ab" * 32,
    )
    session.add(run)
    session.commit()
    return run.id


def _suggest(session: Session, brand: Brand, run_id: int, asset_ids: list[int], **kw) -> list[int]:  # type: ignore[no-untyped-def]
    job = AutotagJob(brand_id=brand.id, run_id=run_id, asset_ids=asset_ids, total=len(asset_ids))
    session.add(job)
    session.flush()
    rows = [
        Suggestion(
            brand_id=brand.id,
            asset_id=asset_id,
            job_id=job.id,
            run_id=run_id,
            adapter_sha256="ab" * 32,
            answer="Camille tote in burgundy\nTags: tote; burgundy",
            caption="Camille tote in burgundy",
            tags=["tote", "burgundy"],
            **kw,
        )
        for asset_id in asset_ids
    ]
    session.add_all(rows)
    session.commit()
    return [s.id for s in rows]


def test_adapters_list_and_the_active_one(
    client: TestClient, brand: Brand, session: Session, adapter: int
) -> None:
    listed = client.get("/api/v1/brands/maison/adapters").json()
    assert listed["active_run_id"] is None and not listed["autotag_uploads"]
    [one] = listed["items"]
    assert (one["run_id"], one["name"], one["task"]) == (adapter, "catalogue", "caption+tags")
    chosen = client.put(
        "/api/v1/brands/maison/adapters/active", json={"run_id": adapter, "autotag_uploads": True}
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["active_run_id"] == adapter and chosen.json()["items"][0]["active"]
    merchandiser = bearer_for(session, brand, "m@maison.test", Role.merchandiser)
    assert (
        client.put(
            "/api/v1/brands/maison/adapters/active", json={"run_id": None}, headers=merchandiser
        ).status_code
        == 403
    )
    session.add(
        failed := Run(
            brand_id=brand.id,
            base_model_id=1,
            dataset_id=session.get_one(Run, adapter).dataset_id,
            status=JobStatus.failed,
            settings={},
            settings_hash="1" * 64,
            instruction="x",
        )
    )
    session.commit()
    refused = client.put("/api/v1/brands/maison/adapters/active", json={"run_id": failed.id})
    assert refused.status_code == 409 and "no adapter" in refused.json()["detail"]
    assert "adapter.activate" in {e.action for e in session.scalars(select(AuditEvent))}


def test_autotag_jobs_choose_their_assets_and_are_sent_after_the_commit(
    client: TestClient, brand: Brand, session: Session, adapter: int, sent: list
) -> None:
    fresh = _upload(client, 3)
    client.patch(f"/api/v1/assets/{fresh[0]}", json={"caption": "already described"})
    job = client.post("/api/v1/brands/maison/autotag", json={"run_id": adapter, "untagged": True})
    assert job.status_code == 202, job.text
    assert (job.json()["status"], job.json()["total"]) == ("queued", 2)
    assert sent == [("atelier.autotag", [job.json()["id"]])]
    chosen = client.post(
        "/api/v1/brands/maison/autotag", json={"run_id": adapter, "asset_ids": [fresh[0]]}
    )
    assert chosen.json()["total"] == 1
    none = client.post("/api/v1/brands/maison/autotag", json={"asset_ids": [fresh[0]]})
    assert none.status_code == 422 and "no active" in none.json()["detail"]
    cancelled = client.post(f"/api/v1/autotag/{chosen.json()['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"


def test_uploads_are_auto_tagged_when_the_brand_asks(
    client: TestClient, adapter: int, session: Session, sent: list
) -> None:
    _upload(client, 1)
    assert sent == [], "not asked for yet"
    client.put(
        "/api/v1/brands/maison/adapters/active", json={"run_id": adapter, "autotag_uploads": True}
    )
    ids = _upload(client, 2, start=10)
    [(name, [job_id])] = sent
    job = session.get_one(AutotagJob, job_id)
    assert (name, job.origin, job.asset_ids, job.run_id) == (
        "atelier.autotag",
        "upload",
        ids,
        adapter,
    )


def test_accepting_writes_the_asset_approves_it_and_audits_who_took_what(
    client: TestClient, brand: Brand, session: Session, adapter: int
) -> None:
    asset_ids = _upload(client, 3)
    first, second, third = _suggest(session, brand, adapter, asset_ids)
    merchandiser = bearer_for(session, brand, "m@maison.test", Role.merchandiser)
    creative = bearer_for(session, brand, "c@maison.test", Role.creative)
    pending = client.get("/api/v1/brands/maison/suggestions", headers=merchandiser).json()
    assert [s["id"] for s in pending["items"]] == [first, second, third]
    assert client.post(f"/api/v1/suggestions/{first}/accept", headers=creative).status_code == 403

    accepted = client.post(f"/api/v1/suggestions/{first}/accept", headers=merchandiser)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    edited = client.post(
        f"/api/v1/suggestions/{second}/accept",
        json={"caption": "Odette scarf in navy", "tags": ["scarf", "navy"]},
        headers=merchandiser,
    )
    assert edited.status_code == 200
    assert (
        client.post(f"/api/v1/suggestions/{third}/reject", headers=merchandiser).status_code == 200
    )
    again = client.post(f"/api/v1/suggestions/{first}/accept", headers=merchandiser)
    assert again.status_code == 409

    assets = [client.get(f"/api/v1/assets/{i}").json() for i in asset_ids]
    assert (assets[0]["caption"], assets[0]["tags"], assets[0]["status"]) == (
        "Camille tote in burgundy",
        ["tote", "burgundy"],  # as the adapter answered them
        "approved",
    )
    assert (assets[1]["caption"], assets[1]["status"]) == ("Odette scarf in navy", "approved")
    assert (assets[2]["caption"], assets[2]["tags"], assets[2]["status"]) == ("", [], "pending")

    events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("suggestion.%")))
    seen = {(e.action, e.actor, e.detail["suggestion"], e.detail.get("edited")) for e in events}
    assert seen == {
        ("suggestion.accept", "m@maison.test", first, False),
        ("suggestion.accept", "m@maison.test", second, True),
        ("suggestion.reject", "m@maison.test", third, None),
    }
    accept = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "suggestion.accept")
    ).first()
    assert accept is not None and accept.detail["run"] == adapter
    assert accept.detail["adapter_sha256"] == "ab" * 32

    frozen = client.post("/api/v1/brands/maison/datasets").json()
    items = client.get(f"/api/v1/brands/maison/datasets/{frozen['version']}").json()["items"]
    captions = {i["asset_id"]: i["caption"] for i in items}
    assert captions[asset_ids[0]] == "Camille tote in burgundy"
    assert captions[asset_ids[1]] == "Odette scarf in navy" and asset_ids[2] not in captions


def test_bulk_accept_leaves_flagged_suggestions_to_a_person(
    client: TestClient, brand: Brand, session: Session, adapter: int
) -> None:
    plain, flagged = _upload(client, 2)
    _suggest(session, brand, adapter, [plain])
    _suggest(session, brand, adapter, [flagged], flags=[{"kind": "unknown-tag", "detail": "x"}])
    done = client.post("/api/v1/brands/maison/suggestions/accept", json={})
    assert done.json() == {"accepted": 1}
    left = client.get("/api/v1/brands/maison/suggestions").json()["items"]
    assert [s["asset_id"] for s in left] == [flagged]


def test_another_brands_suggestions_are_not_there(
    client: TestClient, brand: Brand, session: Session, adapter: int
) -> None:
    [suggestion] = _suggest(session, brand, adapter, _upload(client, 1))
    client.post("/api/v1/brands", json={"slug": "rival", "name": "Rival"})
    outsider = bearer_for(
        session,
        session.scalars(select(Brand).filter_by(slug="rival")).one(),
        "o@rival.test",
        Role.admin,
    )
    assert (
        client.post(f"/api/v1/suggestions/{suggestion}/accept", headers=outsider).status_code == 404
    )
    assert client.get("/api/v1/brands/maison/suggestions", headers=outsider).status_code == 404


def test_the_review_page_marks_what_changes_and_walks_the_queue(
    client: TestClient, brand: Brand, session: Session, adapter: int
) -> None:
    first_asset, second_asset = _upload(client, 2)
    client.patch(
        f"/api/v1/assets/{first_asset}", json={"caption": "Camille tote", "tags": ["tote", "red"]}
    )
    first, second = _suggest(session, brand, adapter, [first_asset, second_asset])
    page = client.get("/brands/maison/review")
    assert page.status_code == 200
    assert f'data-suggestion="{first}"' in page.text and f"?id={second}" in page.text
    assert "<ins>in burgundy</ins>" in page.text, "the words the suggestion adds are marked"
    assert 'class="tag added">burgundy' in page.text and 'class="tag removed">red' in page.text
    assert "2 pending" in page.text
    reviewed = client.post(
        f"/suggestions/{first}/review", data={"decision": "reject"}, follow_redirects=False
    )
    assert reviewed.status_code == 303
    after = client.get(reviewed.headers["location"])
    assert f'data-suggestion="{second}"' in after.text and "1 pending" in after.text


def test_flags_name_unknown_tags_banned_and_replaced_words_and_unparsed_answers() -> None:
    terms = GuideTerms(prefer=(("burgundy", ("dark red",)),), avoid=("cheap",))
    answer = answer_parse("caption+tags", "Cheap tote in dark red\nTags: tote; glitter")
    assert suggestion_flags(answer, {"tote", "burgundy"}, terms) == [
        {"kind": "unknown-tag", "detail": "glitter"},
        {"kind": "banned", "detail": "cheap"},
        {"kind": "replaced", "detail": "dark red"},
    ]
    unparsed = answer_parse("caption+tags", "tote tote tote")
    assert suggestion_flags(unparsed, set(), terms) == [
        {"kind": "unparsed", "detail": "the answer did not follow the expected form"}
    ]


def test_a_try_keeps_the_image_and_sends_a_job(
    client: TestClient, session: Session, adapter: int, sent: list
) -> None:
    refused = client.post(f"/api/v1/runs/{adapter}/try", files={"file": ("x.png", b"not an image")})
    assert refused.status_code == 422
    made = client.post(f"/api/v1/runs/{adapter}/try", files={"file": ("x.png", corpus.png())})
    assert made.status_code == 202 and made.json()["status"] == "queued"
    assert sent == [("atelier.try", [made.json()["id"]])]
    attempt = session.get_one(Try, made.json()["id"])
    assert client.get(f"/tries/{attempt.id}/image").content == corpus.png()
    assert client.get(f"/api/v1/tries/{attempt.id}").json()["base"] == ""


def test_the_library_auto_tags_what_its_filters_show(
    client: TestClient, brand: Brand, session: Session, adapter: int, sent: list
) -> None:
    scarf, _other = _upload(client, 2, start=200)
    client.patch(f"/api/v1/assets/{scarf}", json={"tags": ["scarf"]})
    client.put("/api/v1/brands/maison/adapters/active", json={"run_id": adapter})
    gallery = client.get("/brands/maison/assets", params={"tag": "scarf"})
    assert 'id="autotag-shown"' in gallery.text and 'name="tag" value="scarf"' in gallery.text
    started = client.post(
        "/brands/maison/autotag", data={"scope": "filter", "tag": "scarf"}, follow_redirects=False
    )
    assert started.status_code == 303
    [(_, [job_id])] = sent
    assert session.get_one(AutotagJob, job_id).asset_ids == [scarf]
