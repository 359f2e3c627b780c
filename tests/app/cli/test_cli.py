"""The `atelier` command, run as a person runs it: a real process against a real database."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from app.assets.models import Asset
from app.demo.catalogue import (
    GENERIC_COLOURS,
    GENERIC_MATERIALS,
    GENERIC_PATTERNS,
    KINDS,
    catalogue,
    renders,
)
from app.demo.photos import photos_new
from app.demo.render import product_render
from app.demo.seed import DEMO_PRODUCTS
from tests import corpus


@pytest.fixture
def env(clean_db: Engine, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": clean_db.url.render_as_string(hide_password=False),
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "STORAGE_URL": f"file://{tmp_path / 'blobs'}",
    }


def atelier(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )


def test_import_a_folder_with_progress_and_a_report(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(corpus.png())
    (folder / "sub" / "b.jpg").write_bytes(corpus.jpeg())
    (folder / "broken.jpg").write_bytes(b"nope")
    (folder / "set.zip").write_bytes(
        corpus.zip_archive(
            [
                ("c.webp", corpus.webp()),
                ("manifest.csv", b"file,caption,tags\nc.webp,Odette scarf,scarf\n"),
            ]
        )
    )
    assert atelier(env, "demo").returncode == 0  # a brand to import into
    result = atelier(env, "import", "demo", str(folder))
    assert result.returncode == 0, result.stderr
    assert "3 accepted, 0 duplicates, 1 rejected" in result.stdout
    assert "broken.jpg" in result.stderr and "not an image" in result.stderr
    again = atelier(env, "import", "demo", str(folder / "a.png"))
    assert "0 accepted, 1 duplicates" in again.stdout


def test_import_into_an_unknown_brand_fails_clearly(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(corpus.png())
    result = atelier(env, "import", "nobody", str(tmp_path / "a.png"))
    assert result.returncode != 0
    assert "no brand 'nobody'" in result.stderr


def test_demo_is_idempotent(env: dict[str, str]) -> None:
    first = atelier(env, "demo")
    assert first.returncode == 0, first.stderr
    assert f"{DEMO_PRODUCTS} images added, 0 already there" in first.stdout
    assert "sign in as admin@demo.atelier" in first.stdout
    second = atelier(env, "demo")
    assert f"0 images added, {DEMO_PRODUCTS} already there" in second.stdout


def test_demo_photos_are_new_untagged_and_their_truth_kept_apart(
    env: dict[str, str], tmp_path: Path, session: Session
) -> None:
    out = tmp_path / "shoot"
    made = atelier(env, "demo", "photos", "--count", "5", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "rendering demo photos" in made.stdout
    photos = sorted(p.name for p in out.glob("*.png"))
    assert len(photos) == 5 and sorted(p.name for p in out.iterdir()) == [*photos, "truth.csv"]
    truth = list(csv.DictReader((out / "truth.csv").open(encoding="utf-8")))
    assert [row["file"] for row in truth] == photos
    vocabulary = {*KINDS, *GENERIC_COLOURS, *GENERIC_MATERIALS, *GENERIC_PATTERNS} - {"plain"}
    for row in truth:
        tags = row["tags"].split(";")
        assert set(tags) <= vocabulary and row["caption"].startswith(KINDS[tags[0]].line)

    # New seeds: neither the demo brand's nor any the demo model was trained or measured on.
    seeds = {int(row["seed"]) for row in truth}
    used = {p.seed for p in catalogue(DEMO_PRODUCTS)}
    renders(0, "train", 24, used)  # scripts/build_demo_model.py's defaults; `used` grows
    renders(0, "held-out", 1, used)
    assert len(seeds) == 5 and not seeds & used
    first = io.BytesIO()
    product_render(photos_new(1)[0]).save(first, format="PNG")
    assert (out / photos[0]).read_bytes() == first.getvalue(), "drawn from the seed in truth.csv"

    again = tmp_path / "again"
    atelier(env, "demo", "photos", "--count", "5", "--out", str(again))
    assert all((again / name).read_bytes() == (out / name).read_bytes() for name in photos)

    # Uploaded, the images arrive untagged: the truth stays out of the library (imported as a
    # folder, truth.csv is refused as what it is, not an image).
    assert atelier(env, "demo").returncode == 0
    imported = atelier(env, "import", "demo", str(out))
    assert "5 accepted, 0 duplicates, 1 rejected" in imported.stdout
    assert "rejected truth.csv" in imported.stderr
    uploaded = session.scalars(
        select(Asset).where(Asset.filename.in_(photos)).options(selectinload(Asset.tags))
    ).all()
    assert len(uploaded) == 5 and all(a.caption == "" and a.tags == [] for a in uploaded)


def test_demo_refuses_the_default_password_outside_development(env: dict[str, str]) -> None:
    production = {**env, "ENVIRONMENT": "production", "SECRET_KEY": "a real secret for the test"}
    refused = atelier(production, "demo")
    assert refused.returncode != 0 and "DEMO_ADMIN_PASSWORD" in refused.stderr
    own = atelier({**production, "DEMO_ADMIN_PASSWORD": "a password of its own"}, "demo")
    assert own.returncode == 0, own.stderr
