"""An evaluated run without a worker: the rows a succeeded evaluation leaves."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.brands.models import Brand
from app.evaluations.models import (
    ITEM_METRICS,
    METRICS,
    SYSTEMS,
    Evaluation,
    EvaluationItem,
    EvaluationStatus,
)
from app.runs.models import Run, RunStatus
from tests import corpus


@pytest.fixture
def evaluated(client: TestClient, brand: Brand, session: Session) -> int:
    """A succeeded run with an evaluation of four images (one where base == adapted)."""
    uploaded = client.post(
        "/api/v1/brands/maison/assets",
        files=[("files", (f"{i}.png", corpus.png(colour=(i, 9, 9)))) for i in range(4)],
    ).json()
    ids = [a["asset"]["id"] for a in uploaded["accepted"]]
    for asset_id in ids:
        client.patch(f"/api/v1/assets/{asset_id}", json={"status": "approved", "caption": "x y"})
    dataset = client.post("/api/v1/brands/maison/datasets").json()
    run = Run(
        brand_id=brand.id,
        base_model_id=1,
        dataset_id=dataset["id"],
        status=RunStatus.succeeded,
        settings={},
        settings_hash="0" * 64,
        instruction="Describe this product.",
    )
    session.add(run)
    session.flush()
    evaluation = Evaluation(
        run_id=run.id,
        status=EvaluationStatus.succeeded,
        summary={s: dict.fromkeys(METRICS, 0.5) for s in SYSTEMS},
        adapter_applied=True,
        changed_share=0.75,
    )
    session.add(evaluation)
    session.flush()
    rows = [
        ("=cmd|'/c calc'!A1", "a red bag", "Camille tote in burgundy", []),
        ("Odette scarf", "a blue scarf", "Odette scarf in navy", []),
        ("Bastien loafer", "a shoe", "Bastien loafer", ["shoe"]),  # the adapter lost "shoe"
        ("Lucien belt", "a belt", "a belt", []),
    ]
    for asset_id, (reference, base, adapted, lost) in zip(ids, rows, strict=True):
        session.add(
            EvaluationItem(
                evaluation_id=evaluation.id,
                asset_id=asset_id,
                reference=reference,
                tags=["tote"],
                base=base,
                prompted=base,
                adapted=adapted,
                scores={
                    s: {**dict.fromkeys(ITEM_METRICS, 0.5), "lost": lost if s == "adapted" else []}
                    for s in SYSTEMS
                },
                gain=float(len(adapted) - len(base)),
            )
        )
    session.commit()
    return run.id
