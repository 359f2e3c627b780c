"""Blind rating as a rater lives it: blind until the results are seen, then not counted."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from app.evaluations.models import Evaluation, Rating
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
