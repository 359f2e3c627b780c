"""Sign-in throttling behind a reverse proxy: whose address counts, and failures counted once
each even when they race."""

import contextlib
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.accounts.models import LoginThrottle
from app.accounts.service import Attempt, InvalidCredentials, login_check
from app.config import Settings
from app.db import make_engine, make_sessionmaker, utcnow
from app.main import create_app

FORWARDED = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5, 10.0.0.2"}


def _fail_once(app_settings: Settings, peer: str) -> None:
    app = create_app(app_settings)
    with TestClient(app, client=(peer, 50000)) as client:
        answer = client.post(
            "/api/v1/auth/token",
            data={"email": "nobody@maison.test", "password": "wrong"},
            headers=FORWARDED,
        )
    app.state.engine.dispose()
    assert answer.status_code == 401, answer.text


def _throttled(session: Session) -> set[str]:
    session.commit()
    return {k for k in session.scalars(select(LoginThrottle.key)) if k.startswith("addr:")}


@pytest.mark.parametrize(
    ("trusted", "peer", "counted"),
    [
        ([], "10.0.0.1", "addr:10.0.0.1"),  # no proxy trusted: the header is the client's word
        (["10.0.0.0/8"], "10.0.0.1", "addr:203.0.113.5"),  # the rightmost hop not a proxy
        (["10.0.0.0/8"], "192.0.2.9", "addr:192.0.2.9"),  # an untrusted peer's header: ignored
    ],
)
def test_the_address_that_counts_is_the_client_s_not_the_proxy_s(
    settings: Settings, session: Session, trusted: list[str], peer: str, counted: str
) -> None:
    _fail_once(settings.model_copy(update={"TRUSTED_PROXIES": trusted}), peer)
    assert _throttled(session) == {counted}


def test_racing_failures_are_each_counted(settings: Settings, clean_db: Engine) -> None:
    """Eight wrong passwords at once for one account: eight failures, none lost."""
    engine = make_engine(settings.DATABASE_URL)
    sessions, barrier, errors = make_sessionmaker(engine), threading.Barrier(8), []
    # Free failures high enough that no attempt is refused: this is about counting.
    quiet = settings.model_copy(update={"LOGIN_FREE_FAILURES": 100})

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            # As the sign-in view does: the failure is answered, and its count kept.
            with sessions.begin() as session, contextlib.suppress(InvalidCredentials):
                login_check(
                    session=session,
                    attempt=Attempt("victim@maison.test", f"192.0.2.{n}", utcnow()),
                    password="wrong",
                    settings=quiet,
                )
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with sessions() as session:
        row = session.get_one(LoginThrottle, "email:victim@maison.test")
        assert (row.failures, errors) == (8, [])
        assert utcnow() - row.last_failure_at < timedelta(minutes=1)
    engine.dispose()
