"""Which task goes to which queue: model work to `gpu`, light work to `cpu`, whoever sends it
(the web process after its commit, or a worker's recovery), read back from a real broker."""

import os
import subprocess
import sys
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy.orm import Session

from app.autotag.models import AutotagJob
from app.basemodels.service import basemodel_default
from app.brands.service import brand_create
from app.cli import main
from app.config import Settings
from app.datasets.models import DatasetVersion
from app.db import utcnow
from app.exports.models import ExportFormat, ExportJob
from app.imports.models import ImportJob
from app.jobs import CPU, GPU, TASK_QUEUES, celery_client, job_send
from app.leases import JobStatus
from app.runs.models import Run
from tests.broker import queued

MODEL_TASKS = {
    "atelier.run_train",
    "atelier.run_evaluate",
    "atelier.base_model_check",
    "atelier.autotag",
    "atelier.try",
}


def test_every_task_of_the_workers_has_its_queue() -> None:
    from worker.celery_app import app

    app.loader.import_default_modules()
    tasks = {name for name in app.tasks if name.startswith("atelier.")}
    assert tasks == set(TASK_QUEUES)
    assert {name for name, queue in TASK_QUEUES.items() if queue == CPU} == {
        "atelier.cpu_ping",
        "atelier.import",
        "atelier.export",
    }
    assert all(TASK_QUEUES[name] == GPU for name in MODEL_TASKS)


def test_each_job_reaches_its_tasks_queue(session: Session, broker: str) -> None:
    client = celery_client(broker)
    for number, name in enumerate(TASK_QUEUES):
        job_send(session=session, client=client, name=name, args=[number])
    assert queued(broker) == []  # nothing before the commit
    session.commit()
    sent = {task: (queue, args) for queue, task, args in queued(broker)}
    assert sent == {name: (TASK_QUEUES[name], [n]) for n, name in enumerate(TASK_QUEUES)}


def _orphans(session: Session) -> dict[str, int]:
    """A run, an auto-tag job, an import and an export, each running under a lease that ran
    out; and an export queued so long ago that its message was likely lost."""
    brand = brand_create(session=session, slug="maison", name="Maison")
    dataset = DatasetVersion(
        brand_id=brand.id, version=1, content_hash="0" * 64, validation_fraction=0.2
    )
    session.add(dataset)
    session.flush()
    lapsed = {"status": JobStatus.running, "lease_expires_at": None}
    run = Run(
        brand_id=brand.id,
        base_model_id=basemodel_default(session=session).id,
        dataset_id=dataset.id,
        settings={},
        settings_hash="0" * 64,
        instruction="Describe this product.",
        **lapsed,
    )
    session.add(run)
    session.flush()
    job = AutotagJob(brand_id=brand.id, run_id=run.id, asset_ids=[], total=0, **lapsed)
    imported = ImportJob(
        brand_id=brand.id, filename="big.zip", archive_key="-", size_bytes=1, total=9, **lapsed
    )
    exported = ExportJob(
        brand_id=brand.id, format=ExportFormat.csv, filename="maison-csv.zip", total=9, **lapsed
    )
    unsent = ExportJob(
        brand_id=brand.id,
        format=ExportFormat.coco,
        filename="maison-coco.zip",
        total=9,
        sent_at=utcnow() - timedelta(hours=1),
    )
    session.add_all([job, imported, exported, unsent])
    session.commit()
    return {
        "atelier.run_train": run.id,
        "atelier.autotag": job.id,
        "atelier.import": imported.id,
        "atelier.export": exported.id,
        "unsent export": unsent.id,
    }


def test_recovery_resends_each_orphan_on_its_own_queue(
    session: Session, settings: Settings, broker: str
) -> None:
    rows = _orphans(session)
    env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "BROKER_URL": broker}
    code = "import worker.tasks; worker.tasks.recover_orphans()"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert sorted(queued(broker)) == sorted(
        [
            ("gpu", "atelier.run_train", [rows["atelier.run_train"]]),
            ("gpu", "atelier.autotag", [rows["atelier.autotag"]]),
            ("cpu", "atelier.import", [rows["atelier.import"]]),
            ("cpu", "atelier.export", [rows["atelier.export"]]),
            ("cpu", "atelier.export", [rows["unsent export"]]),
        ]
    )


def test_a_worker_takes_only_queues_that_exist() -> None:
    result = CliRunner().invoke(main, ["worker", "--queues", "gpu,fast"])
    assert result.exit_code == 2
    assert "a comma-separated list of gpu, cpu" in result.output
