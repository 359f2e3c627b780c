"""The `atelier` command: serve, worker, db upgrade, demo, import."""

import functools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import click
from sqlalchemy.orm import Session

from app.assets.images import Limits
from app.config import DEMO_DEFAULT_PASSWORD, VAR, settings
from app.jobs import QUEUES


@click.group()
def main() -> None:
    """Atelier: fine-tune a vision-language model on a brand's own product imagery."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade_command(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from app.migrate import db_upgrade

    _ensure_var()
    db_upgrade(settings.DATABASE_URL, revision)
    click.echo(f"database at {revision}")


@contextmanager
def _session() -> Iterator[Session]:
    from app.db import make_engine, make_sessionmaker

    engine = make_engine(settings.DATABASE_URL)
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        engine.dispose()


def _limits() -> Limits:
    from app.deps import get_limits

    return get_limits(settings)


@main.group(invoke_without_command=True)
@click.pass_context
def demo(context: click.Context) -> None:
    """Seed the demo brand (slug `demo`), its catalogue and style guide. Idempotent.

    `atelier demo photos` renders new demo photos instead.
    """
    if context.invoked_subcommand is None:
        _demo_seed()


def _demo_seed() -> None:
    from app.demo.seed import demo_admin, demo_seed
    from app.storage import open_store

    # A superuser with a published password is a demo on a laptop, never an installation.
    if (
        settings.ENVIRONMENT != "development"
        and settings.DEMO_ADMIN_PASSWORD == DEMO_DEFAULT_PASSWORD
    ):
        raise click.ClickException(
            "outside development the demo admin needs its own password: set DEMO_ADMIN_PASSWORD"
        )
    _ensure_var()
    with _session() as session:
        summary = demo_seed(
            session=session, store=open_store(settings.STORAGE_URL), limits=_limits()
        )
        demo_admin(
            session=session,
            brand=summary.brand,
            email=settings.DEMO_ADMIN_EMAIL,
            password=settings.DEMO_ADMIN_PASSWORD,
        )
        click.echo(
            f"demo brand '{summary.brand.slug}': {summary.added} images added, "
            f"{summary.present} already there; style guide in place"
        )
        click.echo(
            f"sign in as {settings.DEMO_ADMIN_EMAIL} with the password "
            f"{settings.DEMO_ADMIN_PASSWORD} (DEMO_ADMIN_PASSWORD sets another)"
        )


@demo.command("photos")
@click.option("--count", type=click.IntRange(min=1), required=True, help="How many photos.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="A folder."
)
def demo_photos_command(count: int, out: Path) -> None:
    """Render COUNT new catalogue photos into OUT, untagged, and their truth in truth.csv."""
    from app.demo.photos import photo_name, photos_new, truth_write
    from app.demo.render import product_render

    out.mkdir(parents=True, exist_ok=True)
    products = photos_new(count)
    with click.progressbar(products, label="rendering demo photos", show_pos=True) as bar:
        for i, product in enumerate(bar):
            product_render(product).save(out / photo_name(i), format="PNG")
    truth_write(out / "truth.csv", products)
    click.echo(f"{count} photos in {out}; their house captions and tags in truth.csv")


@main.group()
def user() -> None:
    """People and their access."""


@user.command("create")
@click.argument("email")
@click.option("--brand", "brand_slug", help="Add the person to this brand (its slug).")
@click.option(
    "--role",
    type=click.Choice(["creative", "merchandiser", "admin"]),
    default="creative",
    show_default=True,
)
@click.option("--name", default="")
@click.option("--password", help="Their password; without it a random one is printed.")
@click.option("--superuser", is_flag=True, help="An operator: may create brands.")
def user_create_command(
    email: str, brand_slug: str | None, role: str, name: str, password: str | None, superuser: bool
) -> None:
    """Create a person (or add an existing one to --brand) and print an API token."""
    import secrets

    from app.accounts.models import Role
    from app.accounts.service import membership_set, token_create, user_by_email, user_create
    from app.audit.service import audit_record
    from app.brands.service import brand_get
    from app.errors import DomainError

    with _session() as session:
        try:
            brand = brand_get(session=session, slug=brand_slug) if brand_slug else None
            person = user_by_email(session=session, email=email)
            if person is None:
                chosen = password or secrets.token_urlsafe(12)
                person = user_create(
                    session=session, email=email, password=chosen, name=name, is_superuser=superuser
                )
                if password is None:
                    click.echo(f"password: {chosen}")
            if brand is not None:
                membership_set(session=session, brand=brand, user=person, role=Role(role))
                audit_record(
                    session=session,
                    actor=None,
                    brand=brand,
                    action="member.add",
                    target=person.email,
                    role=role,
                    via="cli",
                )
            _, secret = token_create(
                session=session,
                user=person,
                name="created by the CLI",
                days=settings.API_TOKEN_DAYS,
            )
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
        where = f" ({role} of {brand.slug})" if brand is not None else ""
        click.echo(f"user {person.email}{where}")
        click.echo(f"token: {secret}")


@main.command("import")
@click.argument("brand")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def import_command(brand: str, path: Path) -> None:
    """Import images and zip archives from PATH (a file or a folder) into BRAND."""
    from app.assets.service import IngestReport, asset_ingest
    from app.brands.service import brand_get
    from app.errors import NotFound
    from app.storage import open_store

    files = sorted(p for p in (path.rglob("*") if path.is_dir() else [path]) if p.is_file())
    store, limits, report = open_store(settings.STORAGE_URL), _limits(), IngestReport()
    with click.progressbar(files, label=f"importing into {brand}", show_pos=True) as bar:
        for file in bar:
            # One transaction a file: an interrupted import keeps what it finished. Each file
            # is its own upload, with the whole per-upload allowance for its archives.
            report.unpacked_bytes = 0
            with _session() as session, file.open("rb") as handle:
                try:
                    target = brand_get(session=session, slug=brand)
                except NotFound as exc:
                    raise click.ClickException(str(exc)) from exc
                asset_ingest(
                    session=session,
                    store=store,
                    brand=target,
                    filename=str(file.relative_to(path) if path.is_dir() else file.name),
                    fileobj=handle,
                    limits=limits,
                    report=report,
                )
    click.echo(
        f"{len(report.accepted)} accepted, {len(report.duplicates)} duplicates, "
        f"{len(report.rejected)} rejected"
    )
    for name, error in report.rejected:
        click.echo(f"  rejected {name}: {error}", err=True)


def _worker_argv(queues: tuple[str, ...]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--queues",
        ",".join(queues),
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
    ]


def _queues(_context: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(q.strip() for q in value.split(",") if q.strip()))
    if not chosen or any(q not in QUEUES for q in chosen):
        raise click.BadParameter(f"a comma-separated list of {', '.join(QUEUES)}")
    return chosen


def _worker_env() -> dict[str, str]:
    # torch reads its threading environment once, when it loads: the worker starts with it.
    from app.threads import threads_env

    return threads_env(setting=settings.WORKER_THREADS, environ=os.environ)


@main.command()
@click.option(
    "--queues",
    default="gpu",
    show_default=True,
    callback=_queues,
    help="gpu: model work; cpu: light work (imports), never loading the model stack.",
)
def worker(queues: tuple[str, ...]) -> None:
    """Run one worker on these queues, one task at a time."""
    from app.startup import start_refuse_unsafe

    start_refuse_unsafe(settings, "worker")
    os.execve(sys.executable, _worker_argv(queues), _worker_env())


@main.command("worker-ping")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for the answer.")
def worker_ping_command(timeout: float) -> None:
    """Exit 0 once this host's worker answers a ping through the broker, 1 otherwise: a
    container's healthcheck. The main process answers even while its child trains."""
    from app.jobs import celery_client

    node = f"celery@{socket.gethostname()}"
    if not settings.BROKER_URL.startswith(("redis://", "rediss://")):
        raise click.ClickException("a worker answers pings on a Redis broker only")
    replies = celery_client(settings.BROKER_URL).control.ping(destination=[node], timeout=timeout)
    if not any(node in reply for reply in replies):
        raise click.ClickException(f"{node} did not answer within {timeout:g} s")
    click.echo(f"{node}: pong")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--no-worker", is_flag=True, help="Serve the web app only.")
def serve(host: str, port: int, no_worker: bool) -> None:
    """Serve the web app, with a worker beside it on the embedded broker (both queues: model
    work and light work), stopped with it."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from app.logs import logging_config
    from app.startup import start_refuse_unsafe

    start_refuse_unsafe(settings, "serve")
    _ensure_var()
    child = None if no_worker else _worker_start()
    # uvicorn raises the SIGTERM that stopped it again once it is done: an exception here,
    # not the default death, so that the worker is stopped below (SIGINT already is one).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(
            "app.main:serve_app",
            factory=True,
            host=host,
            port=port,
            timeout_graceful_shutdown=5,
            log_config=logging_config(settings) or LOGGING_CONFIG,
        )
    finally:
        if child is not None:
            _worker_stop(child)


WORKER_GRACE_SECONDS = 15  # a training step, a checkpoint kept and the worker's own exit


def _worker_start() -> subprocess.Popen[bytes]:
    """The worker in a process group of its own: serve alone signals it, once, and waits."""
    die_with = functools.partial(_die_with_parent, os.getpid())
    return subprocess.Popen(
        _worker_argv(QUEUES), env=_worker_env(), start_new_session=True, preexec_fn=die_with
    )


def _die_with_parent(parent: int) -> None:
    """In the worker, before exec: the kernel kills it when serve dies, even by SIGKILL."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # serve died before the line above
        os.kill(os.getpid(), signal.SIGKILL)


def _worker_stop(child: subprocess.Popen[bytes]) -> None:
    """A warm shutdown, in which a training run gives itself up at its next step (it resumes
    from that checkpoint later), then, after a grace, a kill."""
    # Another Ctrl-C must not cut this short and leave the worker behind; it is bounded anyway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if child.poll() is None:
        click.echo("stopping the worker", err=True)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=WORKER_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            click.echo(f"the worker did not stop within {WORKER_GRACE_SECONDS}s: killed", err=True)
    with suppress(ProcessLookupError):  # the worker and anything it started
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def _ensure_var() -> None:
    VAR.mkdir(exist_ok=True)


if __name__ == "__main__":
    main()
