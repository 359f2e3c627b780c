"""Runs and evaluations written straight into a seeded demo database: the pages of a trained
brand without the minutes of training (as tests/app/accounts/test_route_matrix.py builds)."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.autotag.models import AutotagJob, Suggestion
from app.basemodels.service import basemodel_default
from app.brands.models import Brand
from app.datasets.models import DatasetItem, Split
from app.datasets.service import dataset_freeze
from app.db import Base, make_engine, make_sessionmaker
from app.evaluations.models import SYSTEMS, Evaluation, EvaluationItem, EvaluationStatus
from app.exports.models import ExportFormat, ExportJob
from app.imports.models import ImportFile, ImportJob, Outcome
from app.leases import JobStatus
from app.runs.models import Run, RunStatus
from app.styleguides.glossary import GuideTerms
from worker.evaluate import summarise

CARD = {
    "base_model": "demo-captioner",
    "base_revision": "main",
    "dataset_version": 1,
    "dataset_hash": "0" * 64,
    "settings_hash": "0" * 64,
    "preset": "demo",
    "trainable_params": 12_288,
    "total_params": 1_000_000,
    "trainable_share": 0.012,
    "base_weights_bytes_4bit": 500_000,
    "base_weights_bytes_16bit": 2_000_000,
    "peak_rss_bytes": 900_000_000,
    "cuda_max_allocated_bytes": None,
    "adapter_bytes": 50_000,
    "wall_seconds": 68.0,
    "samples_per_second": 9.0,
    "tokens_per_second": 700.0,
    "steps": 40,
    "train_loss": 1.5,
}


@dataclass(frozen=True)
class Seeded:
    succeeded: int  # a run with its card and a finished evaluation
    running: int  # a run halfway through its steps, its log longer than its box
    evaluation: int  # the succeeded run's
    job: int  # an auto-tag job done, its suggestion waiting for review
    importing: int  # an archive import halfway through its files
    imported: int  # an archive import done, its per-file report kept
    exports: tuple[int, int]  # an export built (its download offered) and one being built


def history(steps: int) -> list[dict[str, float]]:
    """A falling training loss, one point a step."""
    return [{"step": s, "loss": 3.0 / (1 + s / 10), "epoch": s / 20} for s in range(1, steps + 1)]


def log_lines(count: int) -> str:
    return "".join(f"step {s}: loss {3.0 / (1 + s / 10):.4f}\n" for s in range(1, count + 1))


def demo_runs(database_url: str, admin_email: str = "admin@demo.atelier") -> Seeded:
    """A succeeded, evaluated run and a running one on the demo brand."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            seeded = _runs(session, admin_email)
            session.commit()
    finally:
        engine.dispose()
    return seeded


def _runs(session: Session, admin_email: str) -> Seeded:
    brand = session.scalars(select(Brand).where(Brand.slug == "demo")).one()
    admin = session.scalars(select(User).where(User.email == admin_email)).one()
    dataset, _ = dataset_freeze(session=session, brand=brand, user=admin, validation_fraction=0.2)
    common = {
        "brand_id": brand.id,
        "base_model_id": basemodel_default(session=session).id,
        "dataset_id": dataset.id,
        "created_by_id": admin.id,
        "preset": "demo",
        "settings": {},
        "settings_hash": "0" * 64,
        "instruction": "Describe this product.",
        "total_steps": 40,
    }
    done = Run(
        **common,
        status=RunStatus.succeeded,
        step=40,
        epoch=2.0,
        loss=0.65,
        history=history(40),
        log=log_lines(40),
        card=CARD,
        adapter_key="runs/seeded/adapter.zip",
        adapter_sha256="a" * 64,
    )
    running = Run(
        **common,
        status=RunStatus.running,
        step=20,
        epoch=1.0,
        loss=1.0,
        learning_rate=2e-4,
        eta_seconds=60,
        history=history(20),
        log=log_lines(60),
    )
    session.add_all([done, running])
    session.flush()
    validation = session.scalars(
        select(DatasetItem).where(
            DatasetItem.dataset_id == dataset.id, DatasetItem.split == Split.validation
        )
    ).all()
    evaluation = _evaluated(session, done, validation[:6])
    job = _suggested(session, brand, done, validation[0].asset_id)
    importing, imported = _imports(session, brand, admin, validation[0].asset_id)
    return Seeded(
        succeeded=done.id,
        running=running.id,
        evaluation=evaluation,
        job=job,
        importing=importing,
        imported=imported,
        exports=_exports(session, brand, dataset.id),
    )


def _exports(session: Session, brand: Brand, dataset_id: int) -> tuple[int, int]:
    """An export built (the page offers its download) and one halfway (its progress bar)."""
    built = ExportJob(
        brand_id=brand.id,
        format=ExportFormat.sharegpt,
        dataset_id=dataset_id,
        filename=f"{brand.slug}-v1-sharegpt.zip",
        total=40,
        done=40,
        status=JobStatus.succeeded,
        result_key=f"brands/{brand.id}/exports/seeded.zip",
        size_bytes=3_400_000,
    )
    building = ExportJob(
        brand_id=brand.id,
        format=ExportFormat.csv,
        filename=f"{brand.slug}-csv.zip",
        total=40,
        done=17,
        status=JobStatus.running,
    )
    session.add_all([built, building])
    session.flush()
    return built.id, building.id


def _evaluated(session: Session, run: Run, items: Sequence[DatasetItem]) -> int:
    """A finished evaluation in which the adapted captions are the references."""
    references = [i.caption for i in items]
    bases = ["a bag on a plain background" for _ in items]
    gold = [set(i.tags) for i in items]
    summary, scored = summarise(bases, references, gold, [], GuideTerms())
    evaluation = Evaluation(
        run_id=run.id,
        status=EvaluationStatus.succeeded,
        summary={s: asdict(summary) for s in SYSTEMS},
        deltas={},
        adapter_sha256=run.adapter_sha256,
        adapter_applied=True,
        changed_share=1.0,
    )
    session.add(evaluation)
    session.flush()
    for item, reference, base, scores in zip(items, references, bases, scored, strict=True):
        session.add(
            EvaluationItem(
                evaluation_id=evaluation.id,
                asset_id=item.asset_id,
                reference=reference,
                tags=item.tags,
                base=base,
                prompted=base,
                adapted=reference,
                scores={s: asdict(scores) for s in SYSTEMS},
                gain=10.0,
            )
        )
    return evaluation.id


def _suggested(session: Session, brand: Brand, run: Run, asset_id: int) -> int:
    """An auto-tag job that left a suggestion, for the review queue."""
    job = AutotagJob(
        brand_id=brand.id,
        run_id=run.id,
        asset_ids=[asset_id],
        total=1,
        done=1,
        status=JobStatus.succeeded,
    )
    session.add(job)
    session.flush()
    session.add(
        Suggestion(
            brand_id=brand.id,
            asset_id=asset_id,
            job_id=job.id,
            run_id=run.id,
            adapter_sha256=run.adapter_sha256,
            answer="Camille tote\nTags: tote",
            caption="Camille tote",
            tags=["tote"],
        )
    )
    return job.id


def _imports(session: Session, brand: Brand, admin: User, asset_id: int) -> tuple[int, int]:
    """An import halfway through a large archive, and one done with every kind of outcome."""
    common = {"brand_id": brand.id, "created_by_id": admin.id, "size_bytes": 48 * 1024**2}
    importing = ImportJob(
        **common,
        filename="autumn-winter-2027-lookbook.zip",
        archive_key="imports/seeded/autumn.zip",
        total=400,
        done=160,
        accepted=158,
        rejected=2,
        status=JobStatus.running,
    )
    imported = ImportJob(
        **common,
        filename="spring.zip",
        archive_key="imports/seeded/spring.zip",
        total=3,
        done=3,
        accepted=1,
        duplicates=1,
        rejected=1,
        status=JobStatus.succeeded,
    )
    session.add_all([importing, imported])
    session.flush()
    outcomes = [
        ("look-01.jpg", Outcome.accepted, asset_id, ""),
        ("look-01-copy.jpg", Outcome.duplicate, asset_id, ""),
        ("a/very/long/folder/name/inside/the/archive/look-02-unreadable.jpg", Outcome.rejected,
         None, "not an image Pillow can read: cannot identify image file"),
    ]  # fmt: skip
    for position, (filename, outcome, asset, error) in enumerate(outcomes):
        session.add(
            ImportFile(
                import_id=imported.id,
                position=position,
                filename=filename,
                outcome=outcome,
                asset_id=asset,
                error=error,
            )
        )
    return importing.id, imported.id


def row_update(database_url: str, table: type[Base], row_id: int, **values: object) -> None:
    """Write to a row as the worker does (its progress callback, its evaluation's end)."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.get_one(table, row_id)
            for name, value in values.items():
                setattr(row, name, value)
            session.commit()
    finally:
        engine.dispose()
