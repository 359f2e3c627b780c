from fastapi.testclient import TestClient


def test_create_and_list_brands(client: TestClient) -> None:
    created = client.post("/api/v1/brands", json={"slug": "camille", "name": "Maison Camille"})
    assert created.status_code == 201
    assert created.json()["slug"] == "camille"
    assert [b["slug"] for b in client.get("/api/v1/brands").json()] == ["camille"]


def test_duplicate_slug_is_a_conflict(client: TestClient) -> None:
    client.post("/api/v1/brands", json={"slug": "camille", "name": "A"})
    again = client.post("/api/v1/brands", json={"slug": "camille", "name": "B"})
    assert again.status_code == 409
    assert "exists already" in again.json()["detail"]


def test_bad_slug_is_refused(client: TestClient) -> None:
    response = client.post("/api/v1/brands", json={"slug": "Bad Slug!", "name": "x"})
    assert response.status_code == 422
    assert client.get("/api/v1/brands").json() == []


def test_unknown_brand_is_404_in_api_and_pages(client: TestClient) -> None:
    assert client.get("/api/v1/brands/nope/assets").status_code == 404
    page = client.get("/brands/nope")
    assert page.status_code == 404
    assert "no brand" in page.text
