"""An asset's page: previous and next in the gallery's order, within the gallery's filters."""

import re

from fastapi.testclient import TestClient

from app.brands.models import Brand
from tests.app.assets.test_api import png, upload


def _pager(client: TestClient, asset_id: int, query: str = "") -> tuple[str | None, str | None]:
    html = client.get(f"/brands/maison/assets/{asset_id}{query}").text
    previous = re.search(r'href="([^"]+)" rel="prev"', html)
    following = re.search(r'href="([^"]+)" rel="next"', html)
    return (
        previous.group(1).replace("&amp;", "&") if previous else None,
        following.group(1).replace("&amp;", "&") if following else None,
    )


def test_previous_and_next_walk_the_gallery_newest_first(client: TestClient, brand: Brand) -> None:
    ids = [
        upload(client, (f"{c}.png", png(c)))["accepted"][0]["asset"]["id"]
        for c in ("red", "navy", "teal")
    ]
    oldest, middle, newest = ids
    assert _pager(client, newest) == (None, f"/brands/maison/assets/{middle}")
    assert _pager(client, middle) == (
        f"/brands/maison/assets/{newest}",
        f"/brands/maison/assets/{oldest}",
    )
    assert _pager(client, oldest) == (f"/brands/maison/assets/{middle}", None)


def test_previous_and_next_stay_within_the_filters(client: TestClient, brand: Brand) -> None:
    ids = [
        upload(client, (f"{c}.png", png(c)))["accepted"][0]["asset"]["id"]
        for c in ("red", "navy", "teal")
    ]
    for i in (ids[0], ids[2]):
        client.patch(f"/api/v1/assets/{i}", json={"tags": ["tote"]})
    query = "?tag=tote"
    assert _pager(client, ids[2], query) == (None, f"/brands/maison/assets/{ids[0]}{query}")
    gallery = client.get(f"/brands/maison/assets{query}").text
    assert f'href="/brands/maison/assets/{ids[2]}{query}"' in gallery


def test_another_brands_neighbours_are_not_shown(client: TestClient, brand: Brand) -> None:
    client.post("/api/v1/brands", json={"slug": "other", "name": "Other"})
    mine = upload(client, ("a.png", png("red")))["accepted"][0]["asset"]["id"]
    response = client.post("/api/v1/brands/other/assets", files=[("files", ("b.png", png("navy")))])
    assert response.status_code == 200
    assert _pager(client, mine) == (None, None)
