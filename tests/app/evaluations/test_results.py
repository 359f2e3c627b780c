"""The results page's pieces: highlighted terms, spreadsheet-safe CSV, blind and unbiased
rating, and win rates with Wilson intervals."""

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts.models import Role
from app.brands.models import Brand
from app.evaluations.highlight import highlight
from app.evaluations.models import (
    Evaluation,
    EvaluationItem,
    EvaluationStatus,
)
from app.evaluations.service import left_side, wilson
from app.evaluations.views import csv_safe
from app.runs.models import Run, RunStatus
from app.styleguides.glossary import GuideTerms
from tests.app.members.test_members import bearer_for

# Every metric of every system at 1.0: enough for the results page to render its table.
METRICS = (
    "bleu4",
    "chrf",
    "rouge_l",
    "cider_d",
    "tag_precision",
    "tag_recall",
    "tag_f1",
    "preferred_per_100",
    "violations_per_100",
    "banned_per_100",
    "compliant_share",
    "mean_length",
)
FULL_SUMMARY = {system: dict.fromkeys(METRICS, 1.0) for system in ("base", "prompted", "adapted")}


def test_highlight_escapes_and_marks_whole_terms_longest_first() -> None:
    html = str(
        highlight(
            "<b>Patent calfskin</b> tote, dark red, calfskins",
            GuideTerms(prefer=(("calfskin", ()), ("patent calfskin", ("dark red",)))),
        )
    )
    assert html.startswith("&lt;b&gt;")
    assert '<mark class="prefer">Patent calfskin</mark>' in html
    assert '<mark class="flag">dark red</mark>' in html
    assert "calfskins" in html and html.count("<mark") == 2


@pytest.mark.parametrize("cell", ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx"])
def test_csv_cells_never_become_formulas(cell: str) -> None:
    assert csv_safe(cell).startswith("'")
    assert csv_safe("Camille tote") == "Camille tote"


def test_wilson_interval() -> None:
    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson(0, 0) == (0.0, 1.0)


def test_blind_order_is_fixed_per_rater_and_unbiased_in_aggregate() -> None:
    sides = [left_side(secret="s", item_id=i, rater_id=r) for i in range(1000) for r in range(3)]
    share = sides.count("base") / len(sides)
    assert 0.46 < share < 0.54
    assert left_side(secret="s", item_id=7, rater_id=1) == left_side(
        secret="s", item_id=7, rater_id=1
    )
    assert {left_side(secret=k, item_id=7, rater_id=1) for k in "abcdefgh"} == {"base", "adapted"}


def test_comparison_api_sorts_and_exports_safely(client: TestClient, evaluated: int) -> None:
    data = client.get(f"/api/v1/runs/{evaluated}/comparison", params={"sort": "gain"}).json()
    gains = [i["gain"] for i in data["items"]]
    assert gains == sorted(gains, reverse=True)
    assert data["adapter"]["applied"] is True
    assert (
        client.get(f"/api/v1/runs/{evaluated}/comparison", params={"sort": "sideways"}).status_code
        == 422
    )
    exported = client.get(f"/api/v1/runs/{evaluated}/comparison.csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["asset_id", "tags", "reference"]
    assert "adapted BLEU-4" in rows[0] and rows[1][rows[0].index("adapted BLEU-4")] == "0.5"
    assert data["metrics"]["bleu4"] == "BLEU-4", "the JSON names its metrics as the page does"
    assert rows[1][2].startswith("'="), "a formula is defused"
    lost = {r[0]: r[rows[0].index("adapted lost")] for r in rows[1:]}
    assert sorted(lost.values()) == ["", "", "", "shoe"]


def test_regressions_list_what_the_adapter_lost_first(client: TestClient, evaluated: int) -> None:
    data = client.get(f"/api/v1/runs/{evaluated}/comparison", params={"sort": "regression"})
    first = data.json()["items"][0]
    assert first["reference"] == "Bastien loafer", "the caption that lost an attribute"
    assert first["scores"]["adapted"]["lost"] == ["shoe"]
    page = client.get(f"/runs/{evaluated}/results", params={"sort": "regression"})
    assert '<span class="tag removed">shoe</span>' in page.text
    assert 'id="prompted-note"' in page.text


def test_merchandisers_rate_blind_and_win_rates_add_up(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    merchandiser = bearer_for(session, brand, "eloise@maison.test", Role.merchandiser)
    shown = []
    for _ in range(3):  # three images differ; the fourth (base == adapted) is never asked
        page = client.get(f"/runs/{evaluated}/rate", headers=merchandiser)
        assert page.status_code == 200 and 'id="choose-left"' in page.text
        item_id = int(page.text.split('name="item_id" value="')[1].split('"')[0])
        shown.append(item_id)
        answer = client.post(
            f"/runs/{evaluated}/rate",
            headers=merchandiser,
            data={"item_id": item_id, "choice": "left"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    done = client.get(f"/runs/{evaluated}/rate", headers=merchandiser)
    assert 'id="rated-all"' in done.text
    again = client.post(
        f"/runs/{evaluated}/rate",
        headers=merchandiser,
        data={"item_id": shown[0], "choice": "right"},
    )
    assert again.status_code == 409
    rates = {
        w["rater"]: w
        for w in client.get(f"/api/v1/runs/{evaluated}/comparison").json()["win_rates"]
    }
    overall = rates["all"]
    assert overall["adapted"] + overall["base"] == 3 and overall["ties"] == 0
    assert rates["eloise@maison.test"] == {**overall, "rater": "eloise@maison.test"}
    assert overall["low"] <= overall["rate"] <= overall["high"]


def test_results_page_marks_terms_and_flags_an_adapter_that_changed_nothing(
    client: TestClient, session: Session, evaluated: int
) -> None:
    client.post(
        "/api/v1/brands/maison/styleguides",
        files={"file": ("g.md", b"Prefer: burgundy (not: red)\nAvoid: cheap\n")},
    )
    evaluation = session.query(Evaluation).one()
    evaluation.summary = FULL_SUMMARY
    session.commit()
    page = client.get(f"/runs/{evaluated}/results", params={"sort": "regression"})
    assert page.status_code == 200
    assert '<mark class="prefer">burgundy</mark>' in page.text
    assert '<mark class="flag">red</mark>' in page.text
    assert 'id="adapter-check"' in page.text
    assert "Per tag" not in page.text  # no per-tag scores in this summary
    tote = {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2}
    evaluation.summary = {
        **FULL_SUMMARY,
        "adapted": {**FULL_SUMMARY["adapted"], "per_tag": {"tote": tote}},
    }
    session.commit()
    per_tag = client.get(f"/runs/{evaluated}/results").text
    assert '<tr data-tag="tote"><td>tote</td><td>2</td>' in per_tag and "0.67" in per_tag
    evaluation.adapter_applied = False
    session.commit()
    assert 'id="adapter-flag"' in client.get(f"/runs/{evaluated}/results").text


def test_two_runs_side_by_side(
    client: TestClient, brand: Brand, session: Session, evaluated: int
) -> None:
    first = session.get_one(Run, evaluated)
    second = Run(
        brand_id=brand.id,
        base_model_id=1,
        dataset_id=first.dataset_id,
        status=RunStatus.succeeded,
        settings={},
        settings_hash="1" * 64,
        instruction="Describe this product.",
    )
    session.add(second)
    session.flush()
    evaluation = Evaluation(run_id=second.id, status=EvaluationStatus.succeeded, summary={})
    session.add(evaluation)
    session.flush()
    item = session.query(EvaluationItem).first()
    assert item is not None
    session.add(
        EvaluationItem(
            evaluation_id=evaluation.id,
            asset_id=item.asset_id,
            reference=item.reference,
            tags=[],
            base=item.base,
            prompted=item.prompted,
            adapted="Margaux tote, second run",
            scores={},
        )
    )
    session.get_one(Evaluation, item.evaluation_id).summary = FULL_SUMMARY
    session.commit()
    page = client.get(f"/runs/{evaluated}/results", params={"compare": second.id})
    assert page.status_code == 200
    assert f"<th>Run {second.id}</th>" in page.text and "Margaux tote, second run" in page.text
    assert client.get(f"/runs/{evaluated}/results", params={"compare": 999}).status_code == 404


def test_show_form_with_no_run_to_compare_sorts_and_filters(
    client: TestClient, session: Session, evaluated: int
) -> None:
    """The Show form sends every field, the empty "another run's id" too."""
    session.query(Evaluation).one().summary = FULL_SUMMARY
    session.commit()
    form = {"sort": "regression", "tag": "tote", "compare": ""}
    page = client.get(f"/runs/{evaluated}/results", params=form)
    assert page.status_code == 200
    assert page.text.index("a belt") < page.text.index("Camille tote")  # regressions first
    assert '<option value="regression" selected>' in page.text
    bad = client.get(f"/runs/{evaluated}/results", params={**form, "compare": "two"})
    assert bad.status_code == 422
