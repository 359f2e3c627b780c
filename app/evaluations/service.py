"""Evaluations of runs, the comparison they answer, and blind ratings of base against adapted."""

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any, Literal

from celery import Celery
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.brands.models import Brand
from app.errors import Conflict, Invalid, NotFound
from app.evaluations.models import (
    Evaluation,
    EvaluationItem,
    EvaluationStatus,
    Rating,
    ResultsView,
)
from app.jobs import job_send
from app.runs.models import Run, RunStatus

EVALUATE_TASK = "atelier.run_evaluate"
Sort = Literal["gain", "regression", "order"]
ORDERS: dict[str, ColumnElement[Any]] = {
    "gain": EvaluationItem.gain.desc(),
    "regression": EvaluationItem.gain.asc(),
    "order": EvaluationItem.id.asc(),
}


def evaluation_request(*, session: Session, jobs: Celery, run: Run) -> Evaluation:
    """Queue an evaluation of a finished run (after training one is queued by itself)."""
    if run.status != RunStatus.succeeded:
        raise Conflict(f"only a succeeded run can be evaluated; this one is {run.status.value}")
    evaluation = Evaluation(run_id=run.id, status=EvaluationStatus.queued)
    session.add(evaluation)
    session.flush()
    job_send(session=session, client=jobs, name=EVALUATE_TASK, args=[evaluation.id])
    return evaluation


def evaluation_latest(*, session: Session, run: Run) -> Evaluation | None:
    """The run's newest evaluation, if it has one."""
    return session.scalar(
        select(Evaluation)
        .where(Evaluation.run_id == run.id)
        .order_by(Evaluation.id.desc())
        .limit(1)
    )


def evaluation_items(
    *, session: Session, evaluation: Evaluation, sort: Sort = "order", tag: str | None = None
) -> list[EvaluationItem]:
    """The evaluation's images, by largest gain, largest regression (most attributes lost
    first) or dataset order."""
    order = ORDERS[sort]
    items = session.scalars(
        select(EvaluationItem)
        .where(EvaluationItem.evaluation_id == evaluation.id)
        .order_by(order, EvaluationItem.id)
    )
    chosen = [i for i in items if not tag or tag in i.tags]
    if sort == "regression":  # what the adapter lost of what the base had right comes first
        chosen.sort(key=lambda i: -len(i.scores.get("adapted", {}).get("lost", [])))
    return chosen


# Blind ratings ---------------------------------------------------------------------------
# The results (page, JSON, CSV) tell which caption came from which system: a rater who has
# seen them rates unblinded from then on, and those ratings are kept but not counted.


def results_seen(*, session: Session, run: Run, user: User) -> None:
    """Record that the user has seen the run's captions by system (the first time only)."""
    if results_seen_by(session=session, run=run, user=user):
        return
    try:
        with session.begin_nested():
            session.add(ResultsView(run_id=run.id, user_id=user.id))
    except IntegrityError:
        pass  # a concurrent request of the same person recorded it first


def results_seen_by(*, session: Session, run: Run, user: User) -> bool:
    """Whether the user has seen the run's results."""
    seen = select(ResultsView.id).where(
        ResultsView.run_id == run.id, ResultsView.user_id == user.id
    )
    return session.scalar(seen) is not None


def left_side(*, secret: str, item_id: int, rater_id: int) -> str:
    """Which system a rater sees on the left for an item: fixed per (item, rater), unguessable
    without the server's secret, and evenly split over many items."""
    digest = hmac.new(secret.encode(), f"{item_id}:{rater_id}".encode(), hashlib.sha256).digest()
    return "base" if digest[0] & 1 else "adapted"


def rating_next(*, session: Session, evaluation: Evaluation, rater: User) -> EvaluationItem | None:
    """An image of the evaluation the rater has not rated yet (where base and adapted differ)."""
    rated = select(Rating.item_id).where(Rating.rater_id == rater.id)
    return session.scalar(
        select(EvaluationItem)
        .where(
            EvaluationItem.evaluation_id == evaluation.id,
            EvaluationItem.base != EvaluationItem.adapted,
            EvaluationItem.id.not_in(rated),
        )
        .order_by(EvaluationItem.id)
        .limit(1)
    )


def rating_undo(*, session: Session, evaluation: Evaluation, rater: User) -> Rating | None:
    """Take back the rater's latest rating of the evaluation: its image is asked again."""
    rating = session.scalar(
        select(Rating)
        .join(EvaluationItem, EvaluationItem.id == Rating.item_id)
        .where(EvaluationItem.evaluation_id == evaluation.id, Rating.rater_id == rater.id)
        .order_by(Rating.created_at.desc(), Rating.id.desc())
        .limit(1)
    )
    if rating is not None:
        session.delete(rating)
        session.flush()
    return rating


@dataclass(frozen=True)
class RatingProgress:
    run_id: int
    rated: int  # by this rater
    total: int  # images whose base and adapted captions differ


def rating_progress(
    *, session: Session, evaluations: list[Evaluation], rater: User
) -> list[RatingProgress]:
    """How far the rater is in rating each evaluation, in the order given."""
    ids = [e.id for e in evaluations]
    differ = (EvaluationItem.evaluation_id.in_(ids), EvaluationItem.base != EvaluationItem.adapted)
    per_evaluation = select(EvaluationItem.evaluation_id, func.count()).where(*differ)
    totals = dict(session.execute(per_evaluation.group_by(EvaluationItem.evaluation_id)).all())
    rated = dict(
        session.execute(
            per_evaluation.join(Rating, Rating.item_id == EvaluationItem.id)
            .where(Rating.rater_id == rater.id)
            .group_by(EvaluationItem.evaluation_id)
        ).all()
    )
    return [RatingProgress(e.run_id, rated.get(e.id, 0), totals.get(e.id, 0)) for e in evaluations]


def ratings_open(
    *, session: Session, brand: Brand, rater: User, limit: int = 100
) -> list[RatingProgress]:
    """The brand's runs open to blind rating (latest evaluation succeeded), newest first, with
    how far the rater is in each."""
    latest = (
        select(func.max(Evaluation.id))
        .join(Run, Run.id == Evaluation.run_id)
        .where(Run.brand_id == brand.id, Run.status == RunStatus.succeeded)
        .group_by(Evaluation.run_id)
    )
    evaluations = session.scalars(
        select(Evaluation)
        .where(Evaluation.id.in_(latest), Evaluation.status == EvaluationStatus.succeeded)
        .order_by(Evaluation.run_id.desc())
        .limit(limit)
    )
    return rating_progress(session=session, evaluations=list(evaluations), rater=rater)


def rating_record(
    *, session: Session, run: Run, item: EvaluationItem, rater: User, choice: str, secret: str
) -> Rating:
    """Record 'left', 'right' or 'tie' of one of the run's images as base against adapted."""
    if choice not in ("left", "right", "tie"):
        raise Invalid("choose left, right or tie")
    left = left_side(secret=secret, item_id=item.id, rater_id=rater.id)
    right = "adapted" if left == "base" else "base"
    winner = {"left": left, "right": right, "tie": "tie"}[choice]
    unblinded = results_seen_by(session=session, run=run, user=rater)
    rating = Rating(
        item_id=item.id, rater_id=rater.id, left=left, winner=winner, unblinded=unblinded
    )
    try:
        with session.begin_nested():
            session.add(rating)
    except IntegrityError as exc:
        raise Conflict("you have rated this image already") from exc
    return rating


@dataclass(frozen=True)
class WinRate:
    rater: str
    adapted: int
    base: int
    ties: int
    rate: float | None  # adapted's wins over decided pairs
    low: float | None
    high: float | None


def wilson(wins: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if total == 0:
        return 0.0, 1.0
    p = wins / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rates(*, session: Session, evaluation: Evaluation) -> list[WinRate]:
    """Adapted against base over blind ratings, over everyone ('all') and per rater."""
    rows = session.execute(
        select(User.email, Rating.winner, func.count())
        .join(Rating, Rating.rater_id == User.id)
        .join(EvaluationItem, EvaluationItem.id == Rating.item_id)
        .where(EvaluationItem.evaluation_id == evaluation.id, Rating.unblinded.is_(False))
        .group_by(User.email, Rating.winner)
    ).all()
    tallies: dict[str, dict[str, int]] = {"all": {}}
    for email, winner, n in rows:
        for key in ("all", email):
            tallies.setdefault(key, {})
            tallies[key][winner] = tallies[key].get(winner, 0) + n
    return [_rate(rater, t) for rater, t in tallies.items()]


def ratings_unblinded(
    *, session: Session, evaluation: Evaluation, rater: User | None = None
) -> int:
    """How many ratings of the evaluation (by everyone, or by one rater) were not blind."""
    query = (
        select(func.count())
        .select_from(Rating)
        .join(EvaluationItem, EvaluationItem.id == Rating.item_id)
        .where(EvaluationItem.evaluation_id == evaluation.id, Rating.unblinded.is_(True))
    )
    if rater is not None:
        query = query.where(Rating.rater_id == rater.id)
    return session.scalar(query) or 0


def _rate(rater: str, t: dict[str, int]) -> WinRate:
    adapted, base, ties = t.get("adapted", 0), t.get("base", 0), t.get("tie", 0)
    decided = adapted + base
    low, high = wilson(adapted, decided) if decided else (None, None)
    return WinRate(
        rater=rater,
        adapted=adapted,
        base=base,
        ties=ties,
        rate=adapted / decided if decided else None,
        low=low,
        high=high,
    )


def item_get(*, session: Session, evaluation: Evaluation, item_id: int) -> EvaluationItem:
    item = session.get(EvaluationItem, item_id)
    if item is None or item.evaluation_id != evaluation.id:
        raise NotFound(f"no item {item_id}")
    return item
