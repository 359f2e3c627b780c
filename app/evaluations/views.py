"""The results of a run: the comparison (API, page, CSV), and blind ratings."""

import csv
import io
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.assets.service import tag_names
from app.auth import AdminRun, CreativeRun, MerchandiserRun, RunAccess, audit
from app.deps import SessionDep, SettingsDep
from app.errors import Invalid, NotFound
from app.evaluations.highlight import highlight
from app.evaluations.models import (
    ITEM_METRICS,
    METRICS,
    SYSTEMS,
    Evaluation,
    EvaluationItem,
    EvaluationStatus,
)
from app.evaluations.service import (
    ORDERS,
    Sort,
    evaluation_items,
    evaluation_latest,
    evaluation_request,
    item_get,
    left_side,
    rating_next,
    rating_progress,
    rating_record,
    rating_undo,
    ratings_unblinded,
    results_seen,
    results_seen_by,
    win_rates,
)
from app.runs.service import run_get
from app.styleguides.service import styleguide_terms
from app.web import page

api = APIRouter(prefix="/api/v1", tags=["results"])
pages = APIRouter(include_in_schema=False)
CSV_COLUMNS = [
    "asset_id",
    "tags",
    "reference",
    *SYSTEMS,
    *(f"{system} {METRICS[m]}" for system in SYSTEMS for m in ITEM_METRICS),
    "adapted lost",
    "gain",
]


def _evaluation(session: SessionDep, access: RunAccess) -> Evaluation:
    evaluation = evaluation_latest(session=session, run=access.run)
    if evaluation is None:
        raise NotFound(f"run {access.run.id} has not been evaluated")
    return evaluation


def _seen(session: SessionDep, access: RunAccess, evaluation: Evaluation) -> None:
    """The captions by system are about to be shown: the viewer's later ratings are unblind."""
    if evaluation.status == EvaluationStatus.succeeded:
        results_seen(session=session, run=access.run, user=access.user)


def _sort(value: str) -> Sort:
    if value not in ORDERS:
        raise Invalid("sort by gain, regression or order")
    return value  # type: ignore[return-value]


def _item(i: EvaluationItem) -> dict[str, Any]:
    return {
        "id": i.id,
        "asset_id": i.asset_id,
        "reference": i.reference,
        "tags": i.tags,
        "base": i.base,
        "prompted": i.prompted,
        "adapted": i.adapted,
        "scores": i.scores,
        "gain": i.gain,
        "thumbnail_url": f"/api/v1/assets/{i.asset_id}/thumbnail",
    }


def comparison(
    session: SessionDep, access: RunAccess, *, sort: str = "order", tag: str | None = None
) -> dict[str, Any]:
    """The run's latest evaluation: summary per system, deltas, the adapter check, items."""
    evaluation = _evaluation(session, access)
    items = evaluation_items(session=session, evaluation=evaluation, sort=_sort(sort), tag=tag)
    _seen(session, access, evaluation)
    return {
        "run": evaluation.run_id,
        "evaluation": evaluation.id,
        "status": evaluation.status.value,
        "error": evaluation.error.split("\n", 1)[0] if evaluation.error else "",
        "metrics": METRICS,
        "summary": evaluation.summary,
        "deltas": evaluation.deltas,
        "adapter": {
            "sha256": evaluation.adapter_sha256,
            "applied": evaluation.adapter_applied,
            "changed_share": evaluation.changed_share,
        },
        "win_rates": [asdict(w) for w in win_rates(session=session, evaluation=evaluation)],
        "unblinded_ratings": ratings_unblinded(session=session, evaluation=evaluation),
        "items": [_item(i) for i in items],
    }


@api.get("/runs/{run_id}/comparison")
def api_comparison(
    access: CreativeRun, session: SessionDep, sort: str = "order", tag: str | None = None
) -> dict[str, Any]:
    """Base, prompted base and adapted, in aggregate (with intervals) and image by image."""
    return comparison(session, access, sort=sort, tag=tag)


@api.post("/runs/{run_id}/evaluate", status_code=202)
def api_evaluate(request: Request, access: AdminRun, session: SessionDep) -> dict[str, Any]:
    """Evaluate the run again (a worker captions and scores its validation split)."""
    evaluation = evaluation_request(session=session, jobs=request.app.state.celery, run=access.run)
    audit(
        request, session, action="run.evaluate", brand=access.brand, target=f"run {access.run.id}"
    )
    return {"evaluation": evaluation.id, "status": evaluation.status.value}


def csv_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: formulas (=, +, -, @, tab, CR) are defused."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@api.get("/runs/{run_id}/comparison.csv", response_class=Response)
def api_comparison_csv(access: CreativeRun, session: SessionDep) -> Response:
    """The comparison as CSV, safe to open in a spreadsheet."""
    evaluation = _evaluation(session, access)
    _seen(session, access, evaluation)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for i in evaluation_items(session=session, evaluation=evaluation):
        row = (i.asset_id, ";".join(i.tags), i.reference, i.base, i.prompted, i.adapted)
        scores = (round(i.scores[system][m], 3) for system in SYSTEMS for m in ITEM_METRICS)
        lost = ";".join(i.scores["adapted"].get("lost", []))
        writer.writerow([csv_safe(v) for v in (*row, *scores, lost, round(i.gain, 3))])
    name = f"run-{evaluation.run_id}-comparison.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Pages -----------------------------------------------------------------------------------


@pages.get("/runs/{run_id}/results", response_class=HTMLResponse)
def results_page(
    request: Request,
    access: CreativeRun,
    session: SessionDep,
    sort: str = "order",
    tag: str = "",
    compare: str = "",
) -> HTMLResponse:
    """image | reference | base | prompted | adapted (| another run), terms highlighted."""
    data = comparison(session, access, sort=sort, tag=tag or None)
    other = _other_run(session, access, _run_id(compare))
    terms = styleguide_terms(session=session, brand=access.brand)
    tags = tag_names(session=session, brand=access.brand)
    return page(
        request,
        "evaluations/results.html",
        brand=access.brand,
        access=access,
        run=access.run,
        data=data,
        other=other,
        sort=sort,
        tag=tag,
        tags=tags,
        mark=lambda text: highlight(text, terms),
    )


def _run_id(value: str) -> int | None:
    """The Show form's "another run's id": a browser sends the empty field as `compare=`."""
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise Invalid("compare: a run's id is a whole number")
    return int(value)


def _other_run(session: SessionDep, access: RunAccess, run_id: int | None) -> dict[str, Any]:
    """Another run of the same brand, for side-by-side: its adapted caption per asset."""
    if run_id is None:
        return {}
    other = run_get(session=session, run_id=run_id, brand=access.brand)
    evaluation = evaluation_latest(session=session, run=other)
    items = evaluation_items(session=session, evaluation=evaluation) if evaluation else []
    if items:  # its adapted captions, labelled: rating that run is no longer blind either
        results_seen(session=session, run=other, user=access.user)
    return {"id": other.id, "adapted": {i.asset_id: i.adapted for i in items}}


@pages.get("/runs/{run_id}/rate", response_class=HTMLResponse)
def rate_page(
    request: Request, access: MerchandiserRun, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """One image, two captions in an order the rater cannot know: which is better?"""
    evaluation = _evaluation(session, access)
    item = rating_next(session=session, evaluation=evaluation, rater=access.user)
    sides = None
    if item is not None:
        left = left_side(secret=settings.SECRET_KEY, item_id=item.id, rater_id=access.user.id)
        captions = {"base": item.base, "adapted": item.adapted}
        sides = (captions[left], captions["adapted" if left == "base" else "base"])
    return page(
        request,
        "evaluations/rate.html",
        brand=access.brand,
        access=access,
        run=access.run,
        item=item,
        sides=sides,
        progress=rating_progress(session=session, evaluations=[evaluation], rater=access.user)[0],
        seen=results_seen_by(session=session, run=access.run, user=access.user),
        unblinded=ratings_unblinded(session=session, evaluation=evaluation, rater=access.user),
    )


@pages.post("/runs/{run_id}/rate", response_model=None)
def rate_form(
    request: Request,
    access: MerchandiserRun,
    session: SessionDep,
    settings: SettingsDep,
    item_id: Annotated[int, Form()],
    choice: Annotated[str, Form()],
) -> RedirectResponse:
    item = item_get(session=session, evaluation=_evaluation(session, access), item_id=item_id)
    rating = rating_record(
        session=session,
        run=access.run,
        item=item,
        rater=access.user,
        choice=choice,
        secret=settings.SECRET_KEY,
    )
    # The verdict stays out of the log: it would tell other raters which side wins.
    audit(
        request,
        session,
        action="rating.record",
        brand=access.brand,
        target=f"run {access.run.id}, asset {item.asset_id}",
        unblinded=rating.unblinded,
    )
    return RedirectResponse(
        request.app.url_path_for("rate_page", run_id=access.run.id), status_code=303
    )


@pages.post("/runs/{run_id}/rate/undo", response_model=None)
def rate_undo_form(
    request: Request, access: MerchandiserRun, session: SessionDep
) -> RedirectResponse:
    """Take back one's latest rating of the run; the rating page asks that image again."""
    taken = rating_undo(session=session, evaluation=_evaluation(session, access), rater=access.user)
    if taken is not None:
        audit(
            request,
            session,
            action="rating.undo",
            brand=access.brand,
            target=f"run {access.run.id}, rating {taken.id}",
        )
    return RedirectResponse(
        request.app.url_path_for("rate_page", run_id=access.run.id), status_code=303
    )
