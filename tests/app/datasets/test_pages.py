"""Datasets have pages of their own: the versions, one version's items, the changes between two,
and a freeze button for admins."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from tests.app.assets.test_api import png, upload
from tests.app.members.test_members import bearer_for


def _approved(client: TestClient, colour: str, caption: str, tags: list[str]) -> int:
    asset = upload(client, (f"{colour}.png", png(colour)))["accepted"][0]["asset"]
    client.patch(
        f"/api/v1/assets/{asset['id']}",
        json={"caption": caption, "tags": tags, "status": "approved"},
    )
    return int(asset["id"])


def test_an_admin_freezes_and_compares_versions_in_the_pages(
    client: TestClient, brand: Brand
) -> None:
    empty = client.get("/brands/maison/datasets")
    assert (
        empty.status_code == 200 and "No dataset yet" in empty.text and 'id="freeze"' in empty.text
    )
    refused = client.post("/brands/maison/datasets")
    assert refused.status_code == 422 and "approve at least two images" in refused.text

    tote = _approved(client, "red", "Camille tote", ["tote"])
    _approved(client, "navy", "Odette scarf", ["scarf"])
    first = client.post("/brands/maison/datasets", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/brands/maison/datasets/1"
    version = client.get("/brands/maison/datasets/1").text
    assert "Dataset v1" in version and "Camille tote" in version and "Odette scarf" in version

    client.patch(f"/api/v1/assets/{tote}", json={"caption": "Camille tote in burgundy"})
    _approved(client, "teal", "Louise belt", ["belt"])
    assert client.post("/brands/maison/datasets").url.path == "/brands/maison/datasets/2"
    listing = client.get("/brands/maison/datasets").text
    assert 'href="/brands/maison/datasets/2/diff/1"' not in listing
    assert 'href="/brands/maison/datasets/1/diff/2">changes since v1' in listing
    diff = client.get("/brands/maison/datasets/1/diff/2").text
    assert "1 added · 0 removed · 1 changed" in diff
    assert "<del>Camille tote</del><br>Camille tote in burgundy" in diff and "Louise belt" in diff
    compare = client.get(
        "/brands/maison/datasets-compare", params={"version": 1, "other": 2}, follow_redirects=False
    )
    assert compare.headers["location"] == "/brands/maison/datasets/1/diff/2"
    assert client.get("/brands/maison/datasets/9").status_code == 404


def test_a_creative_sees_the_versions_but_no_freeze_button(
    client: TestClient, brand: Brand, session: Session
) -> None:
    creative = bearer_for(session, brand, "chloe@maison.test", Role.creative)
    page = client.get("/brands/maison/datasets", headers=creative)
    assert page.status_code == 200 and 'id="freeze"' not in page.text
    assert 'href="/brands/maison/datasets">Datasets</a>' in page.text  # in the navigation
    assert client.post("/brands/maison/datasets", headers=creative).status_code == 403
