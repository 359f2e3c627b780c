"""Blind rating as a rater lives it: blind until the results are seen, then not counted."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from app.evaluations.models import Evaluation, Rating
from app.runs.models import Run, RunStatus
from tests.app.evaluations.test_results import FULL_SUMMARY
from tests.app.members.test_members import bearer_for


def rate(client: TestClient, run_id: int, headers: dict[str, str], choice: str = "left") -> int:
    """Rate the image the rating page shows; the image's id."""
    page = client.get(f"/runs/{run_id}/rate", headers=headers)
    item_id = int(page.text.split('name="item_id" value="')[1].split('"')[0])
    answer = client.post(
        f"/runs/{run_id}/rate",
        headers=headers,
        data={"item_id": item_id, "choice": choice},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return item_id


@pytest.mark.parametrize(
    "results", ["/runs/{}/results", "/api/v1/runs/{}/comparison", "/api/v1/runs/{}/comparison.csv"]
)
def test_ratings_given_after_seeing_the_results_are_not_counted(
    client: TestClient, brand: Brand, session: Session, evaluated: int, results: str
) -> None:
    session.query(Evaluation).one().summary = FULL_SUMMARY
    session.commit()
    rater = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    blind = rate(client, evaluated, rater)
    assert 'id="unblinded-note"' not in client.get(f"/runs/{evaluated}/rate", headers=rater).text

    assert client.get(results.format(evaluated), headers=rater).status_code == 200
    seen = rate(client, evaluated, rater)

    session.commit()
    unblinded = {r.item_id: r.unblinded for r in session.query(Rating)}
    assert unblinded == {blind: False, seen: True}
    data = client.get(f"/api/v1/runs/{evaluated}/comparison", headers=rater).json()
    everyone = next(w for w in data["win_rates"] if w["rater"] == "all")
    assert everyone["adapted"] + everyone["base"] + everyone["ties"] == 1, "only the blind one"
    assert data["unblinded_ratings"] == 1
    note = "1 rating given after seeing the results is not counted"
    rating_page = client.get(f"/runs/{evaluated}/rate", headers=rater).text
    assert 'id="unblinded-note"' in rating_page and note in rating_page
    assert note in client.get(f"/runs/{evaluated}/results", headers=rater).text


def test_someone_elses_look_at_the_results_leaves_a_rater_blind(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    rater = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    assert client.get(f"/api/v1/runs/{evaluated}/comparison").status_code == 200  # the admin
    rate(client, evaluated, rater)
    session.commit()
    assert [r.unblinded for r in session.query(Rating)] == [False]
    data = client.get(f"/api/v1/runs/{evaluated}/comparison").json()
    assert data["unblinded_ratings"] == 0


def test_rating_page_shows_the_position_and_never_the_win_rate(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    rater = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    first = client.get(f"/runs/{evaluated}/rate", headers=rater).text
    assert '<p class="eyebrow" id="position">1 of 3</p>' in first, "4 images, 3 that differ"
    assert 'id="undo"' not in first, "nothing to undo yet"
    rate(client, evaluated, rater)
    rate(client, evaluated, client.headers)  # the admin's vote moves the win rate too
    second = client.get(f"/runs/{evaluated}/rate", headers=rater).text
    assert 'id="position">2 of 3</p>' in second
    assert "decided" not in second and "%" not in second and "win rate" not in second


def test_undo_takes_back_the_latest_rating_and_asks_its_image_again(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    rater = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    first = rate(client, evaluated, rater)
    second = rate(client, evaluated, rater, choice="tie")
    assert 'id="undo"' in client.get(f"/runs/{evaluated}/rate", headers=rater).text
    undone = client.post(f"/runs/{evaluated}/rate/undo", headers=rater, follow_redirects=False)
    assert undone.status_code == 303 and undone.headers["location"].endswith("/rate")
    page = client.get(f"/runs/{evaluated}/rate", headers=rater).text
    assert f'name="item_id" value="{second}"' in page and 'id="position">2 of 3</p>' in page
    session.commit()
    assert [r.item_id for r in session.query(Rating)] == [first]
    client.post(f"/runs/{evaluated}/rate/undo", headers=rater)
    client.post(f"/runs/{evaluated}/rate/undo", headers=rater)  # nothing left: no harm
    session.commit()
    assert session.query(Rating).count() == 0


def test_rating_is_reachable_from_the_run_list_and_the_home_page(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    evaluated_run = session.get_one(Run, evaluated)
    unevaluated = Run(
        brand_id=brand.id,
        base_model_id=1,
        dataset_id=evaluated_run.dataset_id,
        status=RunStatus.succeeded,
        settings={},
        settings_hash="1" * 64,
        instruction="Describe this product.",
    )
    session.add(unevaluated)
    session.commit()
    rater = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    creative = bearer_for(session, brand, "celine@maison.test", Role.creative)
    rate(client, evaluated, rater)
    link = f'/runs/{evaluated}/rate"'
    runs = client.get("/brands/maison/runs", headers=rater).text
    assert link in runs and f'/runs/{unevaluated.id}/rate"' not in runs
    assert "1 of 3" in runs
    home = client.get("/brands/maison", headers=rater).text
    assert 'id="rating-queue"' in home and link in home and "1 of 3 rated" in home
    for page in ("/brands/maison/runs", "/brands/maison"):
        assert "/rate" not in client.get(page, headers=creative).text, "creatives do not rate"
