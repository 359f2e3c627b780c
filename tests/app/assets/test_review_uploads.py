"""Reviewing pending uploads like the review queue: on to the next pending asset after each
decision, an optional reason on a rejection, and approval of a filtered set at once."""

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.brands.models import Brand
from tests.app.assets.test_api import png, upload

HTMX = {"HX-Request": "true"}


def _assets(client: TestClient, *colours: str) -> list[int]:
    return [upload(client, (f"{c}.png", png(c)))["accepted"][0]["asset"]["id"] for c in colours]


def _decide(client: TestClient, asset_id: int, action: str, query: str = "", **form: str):
    return client.post(
        f"/brands/maison/assets/{asset_id}{query}",
        data={"caption": "", "tags": "", "action": action, **form},
        follow_redirects=False,
    )


def test_a_decision_leads_to_the_next_pending_asset(client: TestClient, brand: Brand) -> None:
    oldest, middle, newest = _assets(client, "red", "navy", "teal")
    client.patch(f"/api/v1/assets/{middle}", json={"status": "approved"})
    done = _decide(client, newest, "approve", "?status=pending")
    assert done.status_code == 303
    assert done.headers["location"] == f"/brands/maison/assets/{oldest}?status=pending"
    # From the oldest, nothing older is pending: back to the newest still pending, none here.
    last = _decide(client, oldest, "reject")
    assert last.headers["location"] == "/brands/maison/assets"
    # htmx follows as a whole page.
    again = client.post(
        f"/brands/maison/assets/{oldest}",
        data={"caption": "", "tags": "", "action": "reopen"},
        headers=HTMX,
    )
    assert again.status_code == 200 and "HX-Redirect" not in again.headers
    third = _assets(client, "olive")[0]
    step = client.post(
        f"/brands/maison/assets/{third}",
        data={"caption": "", "tags": "", "action": "approve"},
        headers=HTMX,
    )
    assert (
        step.status_code == 204 and step.headers["HX-Redirect"] == f"/brands/maison/assets/{oldest}"
    )


def test_a_rejection_keeps_its_reason_shows_and_audits_it(
    client: TestClient, brand: Brand, session: Session
) -> None:
    [asset] = _assets(client, "red")
    _decide(client, asset, "reject", reason="  the product is   cropped ")
    body = client.get(f"/api/v1/assets/{asset}").json()
    assert (body["status"], body["reject_reason"]) == ("rejected", "the product is cropped")
    page = client.get(f"/brands/maison/assets/{asset}").text
    assert "Rejected because: the product is cropped" in page
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "asset.reject")).one()
    assert event.detail["reason"] == "the product is cropped"

    client.patch(f"/api/v1/assets/{asset}", json={"status": "approved"})
    assert client.get(f"/api/v1/assets/{asset}").json()["reject_reason"] == ""
    api = client.patch(f"/api/v1/assets/{asset}", json={"status": "rejected", "reason": "blurred"})
    assert api.json()["reject_reason"] == "blurred"
    long = client.patch(f"/api/v1/assets/{asset}", json={"status": "rejected", "reason": "x" * 501})
    assert long.status_code == 422


def test_approving_a_filtered_set_approves_only_its_pending_assets(
    client: TestClient, brand: Brand, session: Session
) -> None:
    totes = _assets(client, "red", "navy", "teal")
    [scarf] = _assets(client, "olive")
    for i in totes:
        client.patch(f"/api/v1/assets/{i}", json={"tags": ["tote"]})
    client.patch(f"/api/v1/assets/{totes[0]}", json={"status": "rejected"})
    gallery = client.get("/brands/maison/assets?tag=tote").text
    assert "Approve the 2 awaiting review that match" in gallery

    done = client.post(
        "/brands/maison/approvals", data={"tag": "tote", "q": ""}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/brands/maison/assets?tag=tote"
    status = {i: client.get(f"/api/v1/assets/{i}").json()["status"] for i in [*totes, scarf]}
    assert status == {
        totes[0]: "rejected",
        totes[1]: "approved",
        totes[2]: "approved",
        scarf: "pending",
    }
    session.commit()
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "asset.approve_bulk")
    ).one()
    assert sorted(event.detail["asset_ids"]) == sorted(totes[1:])
    assert "awaiting review that match" not in client.get("/brands/maison/assets?tag=tote").text
