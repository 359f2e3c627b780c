"""Dataset versions: approved assets frozen into immutable, content-hashed snapshots."""

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import User
from app.assets.models import Asset, AssetStatus
from app.brands.models import Brand
from app.datasets.models import DatasetItem, DatasetVersion, Split
from app.errors import Invalid, NotFound


def split_of(sha256: str, validation_fraction: float) -> Split:
    """Deterministic: an image's hash alone puts it in train or validation, in every version."""
    return Split.validation if int(sha256[:8], 16) / 2**32 < validation_fraction else Split.train


def content_hash(items: list[DatasetItem]) -> str:
    """sha256 over (image hash, caption, sorted tags) of every item, in image-hash order.

    The tags are sorted: their order is how a person reads them (items keep it), not what the
    images are labelled with, so a reorder alone is the same content and the same version."""
    canonical = sorted([i.sha256, i.caption, sorted(i.tags)] for i in items)
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def dataset_freeze(
    *, session: Session, brand: Brand, user: User, validation_fraction: float
) -> tuple[DatasetVersion, bool]:
    """Freeze the brand's approved assets into a new version (or answer the latest, if it
    holds exactly the same content); the bool says whether a version was created."""
    if not 0 < validation_fraction < 1:
        raise Invalid("the validation fraction must lie between 0 and 1")
    assets = session.scalars(
        select(Asset)
        .where(Asset.brand_id == brand.id, Asset.status == AssetStatus.approved)
        .options(selectinload(Asset.tags))
        .order_by(Asset.id)
    ).all()
    if len(assets) < 2:
        raise Invalid("approve at least two images before freezing a dataset")
    items = [
        DatasetItem(
            asset_id=a.id,
            sha256=a.sha256,
            caption=a.caption,
            tags=[t.name for t in a.tags],
            split=split_of(a.sha256, validation_fraction),
        )
        for a in assets
    ]
    _keep_both_splits(items, validation_fraction)
    digest = content_hash(items)
    latest = dataset_latest(session=session, brand=brand)
    if latest is not None and latest.content_hash == digest:
        return latest, False
    version = DatasetVersion(
        brand_id=brand.id,
        version=(latest.version + 1) if latest else 1,
        content_hash=digest,
        validation_fraction=validation_fraction,
        counts=_counts(items),
        created_by_id=user.id,
        items=items,
    )
    session.add(version)
    session.flush()
    return version, True


def _keep_both_splits(items: list[DatasetItem], validation_fraction: float) -> None:
    """A small set may fall all on one side: move the image nearest the boundary across."""
    key = {i.sha256: int(i.sha256[:8], 16) / 2**32 - validation_fraction for i in items}
    splits = {i.split for i in items}
    if splits == {Split.train}:
        min(items, key=lambda i: key[i.sha256]).split = Split.validation
    elif splits == {Split.validation}:
        max(items, key=lambda i: key[i.sha256]).split = Split.train


def _counts(items: list[DatasetItem]) -> dict[str, int]:
    return {
        "total": len(items),
        "train": sum(i.split == Split.train for i in items),
        "validation": sum(i.split == Split.validation for i in items),
        "captioned": sum(bool(i.caption) for i in items),
        "tags": len({t for i in items for t in i.tags}),
    }


def dataset_latest(*, session: Session, brand: Brand) -> DatasetVersion | None:
    """The brand's newest dataset version, if any."""
    return session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.brand_id == brand.id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )


def datasets_list(*, session: Session, brand: Brand) -> list[DatasetVersion]:
    """The brand's dataset versions, newest first."""
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.brand_id == brand.id)
            .order_by(DatasetVersion.version.desc())
        )
    )


def dataset_get(*, session: Session, brand: Brand, version: int) -> DatasetVersion:
    """One of the brand's dataset versions with its items, or NotFound."""
    found = session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.brand_id == brand.id, DatasetVersion.version == version)
        .options(selectinload(DatasetVersion.items))
    )
    if found is None:
        raise NotFound(f"no dataset version {version}")
    return found


def dataset_items(*, session: Session, dataset_id: int, split: Split) -> list[DatasetItem]:
    """The items of one split, in a stable order."""
    return list(
        session.scalars(
            select(DatasetItem)
            .where(DatasetItem.dataset_id == dataset_id, DatasetItem.split == split)
            .order_by(DatasetItem.id)
        )
    )


def dataset_originals(
    *, session: Session, dataset_id: int, split: Split
) -> list[tuple[DatasetItem, str]]:
    """The items of one split, in a stable order, each with its original image's blob key."""
    rows = session.execute(
        select(DatasetItem, Asset)
        .join(Asset, Asset.id == DatasetItem.asset_id)
        .where(DatasetItem.dataset_id == dataset_id, DatasetItem.split == split)
        .order_by(DatasetItem.id)
    )
    return [(item, asset.original_key) for item, asset in rows.tuples()]


@dataclass(frozen=True)
class DatasetDiff:
    added: list[DatasetItem]
    removed: list[DatasetItem]
    changed: list[tuple[DatasetItem, DatasetItem]]  # (before, after)


def dataset_diff(*, old: DatasetVersion, new: DatasetVersion) -> DatasetDiff:
    """What changed from `old` to `new`: images added, removed, and re-captioned or re-tagged."""
    before = {i.sha256: i for i in old.items}
    after = {i.sha256: i for i in new.items}
    return DatasetDiff(
        added=[after[h] for h in sorted(after.keys() - before.keys())],
        removed=[before[h] for h in sorted(before.keys() - after.keys())],
        changed=[
            (before[h], after[h])
            for h in sorted(before.keys() & after.keys())
            if (before[h].caption, sorted(before[h].tags))
            != (after[h].caption, sorted(after[h].tags))
        ],
    )
