"""Every route by every kind of caller, generated from the application's own route table.

Each route declares one access rule (app/auth.py); this test derives the expected answer from
it for: nobody signed in, an operator who belongs to no brand, a member of another brand only,
and a creative, a merchandiser and an admin of the brand. A route added without a rule fails
`test_every_route_declares_one_rule`; a rule that is not enforced fails the matrix.
"""

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import LoginSession, Role, User
from app.accounts.security import password_hash
from app.accounts.service import (
    invitation_create,
    membership_set,
    session_start,
    token_create,
)
from app.assets.models import AssetStatus
from app.assets.service import IngestReport, asset_ingest_image
from app.auth import AccessRule
from app.autotag.models import AutotagJob, Suggestion, Try
from app.basemodels.service import basemodel_default
from app.brands.models import Brand
from app.brands.service import brand_create
from app.config import Settings
from app.datasets.service import dataset_freeze
from app.evaluations.models import SYSTEMS, Evaluation, EvaluationItem, EvaluationStatus
from app.exports.models import ExportFormat, ExportJob
from app.imports.models import ImportJob
from app.leases import JobStatus
from app.main import create_app, route_table
from app.runs.models import Run, RunStatus
from app.storage import LocalBlobStore
from app.styleguides.glossary import GuideTerms
from app.styleguides.service import styleguide_upload
from tests import corpus
from worker.evaluate import summarise

CALLERS = ["anonymous", "operator", "outsider", "creative", "merchandiser", "admin"]
HASH = password_hash("correct horse battery")  # once: argon2 is slow on purpose


def rule_of(route: APIRoute) -> list[AccessRule]:
    found: list[AccessRule] = []

    def walk(dependant) -> None:  # type: ignore[no-untyped-def]
        for dependency in dependant.dependencies:
            if isinstance(dependency.call, AccessRule):
                found.append(dependency.call)
            walk(dependency)

    walk(route.dependant)
    return found


def _routes() -> list[APIRoute]:
    return route_table(create_app(Settings()))


ROUTES = [(method, route.path) for route in _routes() for method in sorted(route.methods)]


# The access policy, written out: changing who may call a route means changing this table.
POLICY = {
    ("GET", "/"): "user",
    ("GET", "/account"): "user",
    ("POST", "/account/password"): "user",
    ("POST", "/account/sessions/{session_id}/revoke"): "user",
    ("POST", "/account/tokens"): "user",
    ("POST", "/account/tokens/{token_id}/revoke"): "user",
    ("GET", "/api/v1/assets/{asset_id}"): "asset:creative",
    ("PATCH", "/api/v1/assets/{asset_id}"): "asset:creative",
    ("GET", "/api/v1/assets/{asset_id}/original"): "asset:creative",
    ("GET", "/api/v1/assets/{asset_id}/thumbnail"): "asset:creative",
    ("GET", "/api/v1/auth/me"): "user",
    ("POST", "/api/v1/auth/token"): "public",
    ("GET", "/api/v1/auth/tokens"): "user",
    ("POST", "/api/v1/auth/tokens"): "user",
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): "user",
    ("GET", "/api/v1/base-models"): "user",
    ("POST", "/api/v1/base-models"): "superuser",
    ("GET", "/api/v1/brands"): "user",
    ("POST", "/api/v1/brands"): "superuser",
    ("POST", "/api/v1/brands/{slug}/assets"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/assets"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/audit"): "brand:admin",
    ("POST", "/api/v1/brands/{slug}/datasets"): "brand:admin",
    ("GET", "/api/v1/brands/{slug}/datasets"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/datasets/{version}"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/datasets/{version}/diff/{other}"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/export"): "brand:creative",
    ("POST", "/api/v1/brands/{slug}/imports/label-studio"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/members"): "brand:admin",
    ("POST", "/api/v1/brands/{slug}/members"): "brand:admin",
    ("PATCH", "/api/v1/brands/{slug}/members/{user_id}"): "brand:admin",
    ("DELETE", "/api/v1/brands/{slug}/members/{user_id}"): "brand:admin",
    ("POST", "/api/v1/brands/{slug}/runs"): "brand:admin",
    ("GET", "/api/v1/brands/{slug}/runs"): "brand:creative",
    ("POST", "/api/v1/brands/{slug}/styleguides"): "brand:creative",
    ("GET", "/api/v1/brands/{slug}/styleguides/{version}"): "brand:creative",
    ("GET", "/api/v1/openapi.json"): "user",
    ("GET", "/api/v1/runs/{run_id}"): "run:creative",
    ("GET", "/api/v1/runs/{run_id}/adapter"): "run:creative",
    ("POST", "/api/v1/runs/{run_id}/cancel"): "run:admin",
    ("GET", "/api/v1/runs/{run_id}/comparison"): "run:creative",
    ("GET", "/api/v1/runs/{run_id}/comparison.csv"): "run:creative",
    ("POST", "/api/v1/runs/{run_id}/evaluate"): "run:admin",
    ("GET", "/base-models"): "user",
    ("POST", "/base-models"): "superuser",
    ("GET", "/brands/{slug}"): "brand:creative",
    ("GET", "/brands/{slug}/assets"): "brand:creative",
    ("GET", "/brands/{slug}/assets/{asset_id}"): "brand:creative",
    ("POST", "/brands/{slug}/assets/{asset_id}"): "brand:creative",
    ("GET", "/brands/{slug}/audit"): "brand:admin",
    ("POST", "/brands/{slug}/invitations/{invitation_id}/revoke"): "brand:admin",
    ("GET", "/brands/{slug}/members"): "brand:admin",
    ("POST", "/brands/{slug}/members"): "brand:admin",
    ("POST", "/brands/{slug}/members/{user_id}/remove"): "brand:admin",
    ("POST", "/brands/{slug}/members/{user_id}/role"): "brand:admin",
    ("GET", "/brands/{slug}/runs"): "brand:creative",
    ("POST", "/brands/{slug}/runs"): "brand:admin",
    ("POST", "/brands/{slug}/runs/demo"): "brand:admin",
    ("GET", "/brands/{slug}/styleguide"): "brand:creative",
    ("POST", "/brands/{slug}/styleguide"): "brand:creative",
    ("POST", "/brands/{slug}/styleguide/terms"): "brand:creative",
    ("POST", "/brands/{slug}/styleguide/confirm"): "brand:creative",
    ("POST", "/brands/{slug}/upload"): "brand:creative",
    ("GET", "/api/v1/imports/{import_id}"): "import:creative",
    ("GET", "/imports/{import_id}"): "import:creative",
    ("POST", "/api/v1/brands/{slug}/exports"): "brand:creative",
    ("GET", "/api/v1/exports/{export_id}"): "export:creative",
    ("GET", "/api/v1/exports/{export_id}/download"): "export:creative",
    ("POST", "/brands/{slug}/exports"): "brand:creative",
    ("GET", "/exports/{export_id}"): "export:creative",
    ("POST", "/brands/{slug}/approvals"): "brand:merchandiser",
    ("GET", "/brands/{slug}/datasets"): "brand:creative",
    ("POST", "/brands/{slug}/datasets"): "brand:admin",
    ("GET", "/brands/{slug}/datasets/{version}"): "brand:creative",
    ("GET", "/brands/{slug}/datasets/{version}/diff/{other}"): "brand:creative",
    ("GET", "/brands/{slug}/datasets-compare"): "brand:creative",
    ("GET", "/brands/{slug}/base-models"): "brand:creative",
    ("GET", "/healthz"): "public",
    ("GET", "/metrics"): "metrics",
    ("GET", "/invite"): "public",
    ("POST", "/invite"): "public",
    ("POST", "/invite/accept"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "user",
    ("GET", "/runs/{run_id}"): "run:creative",
    ("POST", "/runs/{run_id}/cancel"): "run:admin",
    ("GET", "/runs/{run_id}/rate"): "run:merchandiser",
    ("POST", "/runs/{run_id}/rate"): "run:merchandiser",
    ("POST", "/runs/{run_id}/rate/undo"): "run:merchandiser",
    ("GET", "/runs/{run_id}/results"): "run:creative",
    ("GET", "/api/v1/brands/{slug}/adapters"): "brand:creative",
    ("PUT", "/api/v1/brands/{slug}/adapters/active"): "brand:admin",
    ("POST", "/api/v1/brands/{slug}/autotag"): "brand:merchandiser",
    ("GET", "/api/v1/brands/{slug}/autotag"): "brand:merchandiser",
    ("GET", "/api/v1/autotag/{job_id}"): "auto-tag job:merchandiser",
    ("POST", "/api/v1/autotag/{job_id}/cancel"): "auto-tag job:merchandiser",
    ("GET", "/api/v1/brands/{slug}/suggestions"): "brand:merchandiser",
    ("POST", "/api/v1/brands/{slug}/suggestions/accept"): "brand:merchandiser",
    ("POST", "/api/v1/suggestions/{suggestion_id}/accept"): "suggestion:merchandiser",
    ("POST", "/api/v1/suggestions/{suggestion_id}/reject"): "suggestion:merchandiser",
    ("POST", "/api/v1/runs/{run_id}/try"): "run:creative",
    ("GET", "/api/v1/tries/{try_id}"): "try:creative",
    ("GET", "/brands/{slug}/adapters"): "brand:creative",
    ("POST", "/brands/{slug}/adapters/active"): "brand:admin",
    ("POST", "/brands/{slug}/autotag"): "brand:merchandiser",
    ("GET", "/autotag/{job_id}"): "auto-tag job:merchandiser",
    ("POST", "/autotag/{job_id}/cancel"): "auto-tag job:merchandiser",
    ("GET", "/brands/{slug}/review"): "brand:merchandiser",
    ("POST", "/brands/{slug}/review/accept-all"): "brand:merchandiser",
    ("POST", "/suggestions/{suggestion_id}/review"): "suggestion:merchandiser",
    ("POST", "/runs/{run_id}/try"): "run:creative",
    ("GET", "/tries/{try_id}"): "try:creative",
    ("GET", "/tries/{try_id}/image"): "try:creative",
}


def _describe(rule: AccessRule) -> str:
    return rule.scope + (f":{rule.minimum.value}" if rule.minimum else "")


def test_rules_are_the_written_policy() -> None:
    declared = {(m, r.path): _describe(rule_of(r)[0]) for r in _routes() for m in r.methods}
    assert declared == POLICY


def test_every_route_declares_one_rule() -> None:
    missing = [f"{sorted(r.methods)} {r.path}" for r in _routes() if len(rule_of(r)) != 1]
    assert missing == [], f"routes without exactly one access rule: {missing}"


@dataclass
class World:
    params: dict[str, dict[str, str]]  # caller -> path parameter -> value
    tokens: dict[str, str]  # caller -> bearer secret


def _user(session: Session, email: str, superuser: bool = False) -> User:
    user = User(email=email, password_hash=HASH, is_superuser=superuser)
    session.add(user)
    session.flush()
    return user


def _build(session: Session, store: LocalBlobStore, settings: Settings) -> World:
    brand = brand_create(session=session, slug="maison", name="Maison")
    rival = brand_create(session=session, slug="rival", name="Rival")
    people = {
        "operator": _user(session, "op@test.io", superuser=True),
        "outsider": _user(session, "out@test.io"),
    }
    membership_set(session=session, brand=rival, user=people["outsider"], role=Role.admin)
    for role in Role:
        people[role.value] = _user(session, f"{role.value}@test.io")
        membership_set(session=session, brand=brand, user=people[role.value], role=role)
    victim = _user(session, "victim@test.io")
    membership_set(session=session, brand=brand, user=victim, role=Role.creative)
    report = IngestReport()
    asset_ingest_image(
        session=session,
        store=store,
        brand=brand,
        filename="a.png",
        data=corpus.png(),
        caption="",
        tags=(),
        limits=_limits(settings),
        report=report,
    )
    styleguide_upload(
        session=session,
        store=store,
        brand=brand,
        filename="g.md",
        data=b"Prefer: calfskin (not: leather)\n",
        max_bytes=10_000,
    )
    invitation, secret = invitation_create(
        session=session,
        brand=brand,
        email="new@test.io",
        role=Role.creative,
        invited_by=people["admin"],
        settings=settings,
    )
    asset = report.accepted[0][1]
    asset.status = AssetStatus.approved
    second = IngestReport()
    asset_ingest_image(
        session=session,
        store=store,
        brand=brand,
        filename="b.png",
        data=corpus.png(colour=(1, 2, 3)),
        caption="",
        tags=(),
        limits=_limits(settings),
        report=second,
    )
    second.accepted[0][1].status = AssetStatus.approved
    dataset, _ = dataset_freeze(
        session=session, brand=brand, user=people["admin"], validation_fraction=0.5
    )
    run = Run(
        brand_id=brand.id,
        base_model_id=basemodel_default(session=session).id,
        dataset_id=dataset.id,
        status=RunStatus.succeeded,
        settings={},
        settings_hash="0" * 64,
        instruction="Describe this product.",
        adapter_key="runs/matrix/adapter.zip",
    )
    session.add(run)
    session.flush()
    store.put(run.adapter_key, b"PK\x05\x06" + b"\0" * 18)
    _evaluated(session, run.id, asset.id)
    job, suggestion, attempt = _put_to_work(session, store, brand, run, asset.id)
    imported = ImportJob(
        brand_id=brand.id, filename="big.zip", archive_key="-", size_bytes=1, total=100
    )
    exported = ExportJob(
        brand_id=brand.id,
        format=ExportFormat.csv,
        filename="maison-csv.zip",
        total=2,
        done=2,
        status=JobStatus.succeeded,
        result_key="brands/matrix/exports/1.zip",
        size_bytes=22,
    )
    session.add_all([imported, exported])
    session.flush()
    store.put(exported.result_key, b"PK\x05\x06" + b"\0" * 18)
    shared = {
        "slug": "maison",
        "asset_id": str(asset.id),
        "version": "1",
        "other": "1",
        "user_id": str(victim.id),
        "invitation_id": str(invitation.id),
        "token": secret,
        "run_id": str(run.id),
        "job_id": str(job.id),
        "suggestion_id": str(suggestion.id),
        "try_id": str(attempt.id),
        "import_id": str(imported.id),
        "export_id": str(exported.id),
    }
    params: dict[str, dict[str, str]] = {}
    tokens: dict[str, str] = {}
    for caller, user in people.items():
        _, bearer = token_create(session=session, user=user, name="matrix", days=1)
        spare, _ = token_create(session=session, user=user, name="spare", days=1)
        session_start(session=session, user=user, address="", user_agent="", settings=settings)
        own = session.scalars(select(LoginSession.id).where(LoginSession.user_id == user.id))
        tokens[caller] = bearer
        params[caller] = {**shared, "token_id": str(spare.id), "session_id": str(max(own))}
    params["anonymous"] = {**shared, "token_id": "1", "session_id": "1"}
    session.commit()
    return World(params=params, tokens=tokens)


def _put_to_work(
    session: Session, store: LocalBlobStore, brand: Brand, run: Run, asset_id: int
) -> tuple[AutotagJob, Suggestion, Try]:
    """An auto-tag job that left a suggestion, and a try, so that their pages have content."""
    job = AutotagJob(brand_id=brand.id, run_id=run.id, asset_ids=[asset_id], total=1, done=1)
    session.add(job)
    session.flush()
    suggestion = Suggestion(
        brand_id=brand.id,
        asset_id=asset_id,
        job_id=job.id,
        run_id=run.id,
        adapter_sha256="0" * 64,
        answer="Camille tote\nTags: tote",
        caption="Camille tote",
        tags=["tote"],
    )
    attempt = Try(brand_id=brand.id, run_id=run.id, image_key="brands/x/tries/t.png")
    session.add_all([suggestion, attempt])
    session.flush()
    store.put(attempt.image_key, corpus.png())
    return job, suggestion, attempt


def _evaluated(session: Session, run_id: int, asset_id: int) -> None:
    """A finished evaluation of one image, so that results and rating pages have content."""
    summary, items = summarise(["a red bag"], ["Camille tote"], [set()], [], GuideTerms())
    evaluation = Evaluation(
        run_id=run_id,
        status=EvaluationStatus.succeeded,
        summary={s: asdict(summary) for s in SYSTEMS},
        deltas={},
        adapter_applied=True,
        changed_share=1.0,
    )
    session.add(evaluation)
    session.flush()
    session.add(
        EvaluationItem(
            evaluation_id=evaluation.id,
            asset_id=asset_id,
            reference="Camille tote",
            tags=[],
            base="a red bag",
            prompted="a red bag",
            adapted="Camille tote",
            scores={s: asdict(items[0]) for s in SYSTEMS},
        )
    )


def _limits(settings: Settings):  # type: ignore[no-untyped-def]
    from app.deps import get_limits

    return get_limits(settings)


def expected(rule: AccessRule, caller: str) -> str:
    """allowed | sign-in | forbidden | hidden (404, as for what does not exist)."""
    if rule.scope == "public":
        return "allowed"
    if rule.scope == "metrics":
        # Nobody here is the scraper: a person's token is not METRICS_TOKEN, and without one
        # only a loopback caller in development may read (tests/app/test_metrics.py).
        return "forbidden"
    if caller == "anonymous":
        return "sign-in"
    if rule.scope == "user":
        return "allowed"
    if rule.scope == "superuser":
        return "allowed" if caller == "operator" else "forbidden"
    if caller in ("operator", "outsider"):
        return "hidden"
    assert rule.minimum is not None
    return "allowed" if Role(caller).includes(rule.minimum) else "forbidden"


def observed(status: int, location: str) -> str:
    if status == 401 or (status == 303 and location.startswith("/login?next=")):
        return "sign-in"
    return {403: "forbidden", 404: "hidden"}.get(status, "allowed")


@pytest.fixture
def world(session: Session, store: LocalBlobStore, settings: Settings) -> World:
    return _build(session, store, settings)


def _client(app: FastAPI, token: str | None) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with TestClient(app, headers=headers, follow_redirects=False) as client:
        # Like a browser: fetch a page first for the CSRF cookie, and send its token.
        login = client.get("/login")
        match = re.search(r'name="csrf-token" content="([^"]+)"', login.text)
        assert match is not None
        client.headers["X-CSRF-Token"] = match.group(1)
        yield client


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_answers_each_caller_by_its_rule(
    app: FastAPI, world: World, method: str, path: str
) -> None:
    route = next(r for r in route_table(app) if r.path == path and method in r.methods)
    [rule] = rule_of(route)
    failures = []
    for caller in CALLERS:  # least privileged first: an allowed call may change the world
        url = path.format(**world.params[caller])
        for client in _client(app, world.tokens.get(caller)):
            response = client.request(method, url)
        got = observed(response.status_code, response.headers.get("location", ""))
        if got != expected(rule, caller):
            failures.append(
                f"{caller}: expected {expected(rule, caller)}, got "
                f"{response.status_code} {response.text[:120]!r}"
            )
    assert failures == []
