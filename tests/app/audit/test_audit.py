"""The audit log records uploads, approvals, role changes and sign-ins, per brand."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from tests import corpus
from tests.app.members.test_members import MEMBERS, bearer_for

AUDIT = "/api/v1/brands/maison/audit"


def test_actions_are_recorded_and_filterable(
    client: TestClient, brand: Brand, session: Session
) -> None:
    merchandiser = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    uploaded = client.post(
        "/api/v1/brands/maison/assets",
        files=[("files", ("a.png", corpus.png())), ("files", ("b", b"x"))],
    )
    asset_id = uploaded.json()["accepted"][0]["asset"]["id"]
    client.patch(f"/api/v1/assets/{asset_id}", json={"status": "approved"}, headers=merchandiser)
    user_id = {m["email"]: m["user_id"] for m in client.get(MEMBERS).json()}["eloise@maison.test"]
    client.patch(f"{MEMBERS}/{user_id}", json={"role": "creative"})

    events = client.get(AUDIT).json()["items"]
    actions = [e["action"] for e in events]
    assert actions[:4] == ["member.role", "asset.approve", "assets.upload", "brand.create"]
    upload = events[2]
    assert upload["actor"] == "operator@atelier.test"
    assert upload["detail"] == {"accepted": 1, "duplicates": 0, "rejected": 1}
    assert events[1]["actor"] == "eloise@maison.test"
    assert events[0]["detail"] == {"role": "creative"}

    only_assets = client.get(AUDIT, params={"action": "asset."}).json()["items"]
    assert [e["action"] for e in only_assets] == ["asset.approve"]
    by_person = client.get(AUDIT, params={"actor": "eloise@maison.test"}).json()["items"]
    assert [e["action"] for e in by_person] == ["asset.approve"]
    assert client.get(AUDIT, params={"since": "2999-01-01"}).json()["items"] == []
    page = client.get(AUDIT, params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert client.get(AUDIT, headers=merchandiser).status_code == 403


def test_each_brand_sees_only_its_own_events(client: TestClient, brand: Brand) -> None:
    client.post("/api/v1/brands", json={"slug": "rival", "name": "Rival"})
    client.post("/api/v1/brands/rival/assets", files=[("files", ("a.png", corpus.png()))])
    maison = [e["action"] for e in client.get(AUDIT).json()["items"]]
    assert "assets.upload" not in maison


def test_audit_page_renders_for_admins(client: TestClient, brand: Brand) -> None:
    page = client.get("/brands/maison/audit", params={"action": "brand.create"})
    assert page.status_code == 200
    assert "brand.create" in page.text and "operator@atelier.test" in page.text
