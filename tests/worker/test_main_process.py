"""The worker's main process (the Celery app, its tasks module and the loop that recovers
orphaned runs) never loads torch or transformers: those load in the task that needs them."""

import os
import subprocess
import sys
from pathlib import Path

from app.migrate import db_upgrade

CODE = """
import sys
import worker.celery_app, worker.tasks
worker.tasks.recover_orphans()
loaded = {m.split('.')[0] for m in sys.modules}
print(sorted(loaded & {'torch', 'transformers', 'peft', 'bitsandbytes'}))
"""


def test_the_main_process_loads_no_model_stack(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/atelier.db"
    db_upgrade(database)
    env = {
        "DATABASE_URL": database,
        "BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "STORAGE_URL": f"file://{tmp_path}/blobs",
    }
    result = subprocess.run(
        [sys.executable, "-c", CODE],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
