"""The asset library: ingest uploads, list with filters and cursors, edit, review."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import ColumnElement, Select, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.assets.archive import archive_entries
from app.assets.images import CheckedImage, Limits, Rejected, image_check, is_zip
from app.assets.models import Asset, AssetStatus, Tag, asset_tags
from app.brands.models import Brand
from app.errors import Invalid, NotFound
from app.storage import BlobStore, blob_stage

MAX_TAG_LENGTH = 100
MAX_CAPTION_LENGTH = 2000
MAX_REASON_LENGTH = 500


@dataclass
class IngestReport:
    """What became of every file in one upload."""

    accepted: list[tuple[str, Asset]] = field(default_factory=list)
    duplicates: list[tuple[str, Asset]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    unpacked_bytes: int = 0  # from the upload's archives so far, against its limit


def tag_normalise(names: Iterable[str]) -> list[str]:
    """Trimmed, lower-case, de-duplicated tag names in their first order; refuses long ones."""
    seen: dict[str, None] = {}
    for name in names:
        clean = " ".join(name.split()).lower()
        if len(clean) > MAX_TAG_LENGTH:
            raise Invalid(f"tag {clean[:20]!r}… is longer than {MAX_TAG_LENGTH} characters")
        if clean:
            seen.setdefault(clean, None)
    return list(seen)


def tags_resolve(
    *, session: Session, brand: Brand, names: Iterable[str], known: dict[str, Tag] | None = None
) -> list[Tag]:
    """The brand's tags with these names, created where missing. `known` holds tags already
    resolved in this transaction (an archive's members share a few tags): only the others
    are looked up, and are added to it."""
    wanted = tag_normalise(names)
    found = {} if known is None else known
    missing = [name for name in wanted if name not in found]
    if missing:
        found.update(
            (tag.name, tag)
            for tag in session.scalars(
                select(Tag).where(Tag.brand_id == brand.id, Tag.name.in_(missing))
            )
        )
        for name in missing:
            if name not in found:
                found[name] = _tag_create(session=session, brand=brand, name=name)
    return [found[name] for name in wanted]


def _tag_create(*, session: Session, brand: Brand, name: str) -> Tag:
    try:
        with session.begin_nested():
            tag = Tag(brand_id=brand.id, name=name)
            session.add(tag)
        return tag
    except IntegrityError:  # created meanwhile by a concurrent upload
        return session.scalars(select(Tag).where(Tag.brand_id == brand.id, Tag.name == name)).one()


def asset_ingest(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    fileobj: BinaryIO,
    limits: Limits,
    report: IngestReport,
) -> None:
    """Ingest one uploaded file, an image or a zip archive, recording each outcome."""
    head = fileobj.read(4)
    fileobj.seek(0)
    if is_zip(head):
        _ingest_archive(
            session=session,
            store=store,
            brand=brand,
            filename=filename,
            fileobj=fileobj,
            limits=limits,
            report=report,
        )
        return
    asset_ingest_image(  # checked and stored from the upload's file, never read whole
        session=session,
        store=store,
        brand=brand,
        filename=filename,
        data=fileobj,
        caption="",
        tags=(),
        limits=limits,
        report=report,
    )


def _ingest_archive(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    fileobj: BinaryIO,
    limits: Limits,
    report: IngestReport,
) -> None:
    try:
        entries = archive_entries(fileobj, limits=limits, request_unpacked=report.unpacked_bytes)
        answered = len(report.accepted) + len(report.duplicates) + len(report.rejected)
        known: dict[str, Tag] = {}  # the archive's tags, resolved once for all its members
        for entry in entries:
            report.unpacked_bytes += len(entry.data or b"")
            name = f"{filename}: {entry.name}"
            if entry.error is not None or entry.data is None:
                report.rejected.append((name, entry.error or "could not be read"))
                continue
            asset_ingest_image(
                session=session,
                store=store,
                brand=brand,
                filename=name,
                data=entry.data,
                caption=entry.caption,
                tags=entry.tags,
                limits=limits,
                report=report,
                known_tags=known,
            )
        if len(report.accepted) + len(report.duplicates) + len(report.rejected) == answered:
            # Empty, or only folders, clutter and a manifest: still answered, by its name.
            report.rejected.append((filename, "the archive holds no images"))
    except Rejected as exc:
        report.rejected.append((filename, str(exc)))


def asset_ingest_image(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    data: bytes | BinaryIO,
    caption: str,
    tags: Sequence[str],
    limits: Limits,
    report: IngestReport,
    known_tags: dict[str, Tag] | None = None,
) -> None:
    """Ingest one image (its bytes, or a seekable file of them) with its caption and tags,
    recording the outcome. `known_tags`: see tags_resolve."""
    try:
        checked = image_check(data, limits=limits)
    except Rejected as exc:
        report.rejected.append((filename, str(exc)))
        return
    asset_ingest_checked(
        session=session,
        store=store,
        brand=brand,
        filename=filename,
        checked=checked,
        caption=caption,
        tags=tags,
        report=report,
        known_tags=known_tags,
    )


def asset_ingest_checked(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    checked: CheckedImage,
    caption: str,
    tags: Sequence[str],
    report: IngestReport,
    known_tags: dict[str, Tag] | None = None,
) -> None:
    """Ingest an image that passed `image_check` (decoded and thumbnailed: the slow part, which
    an import does before its short transaction), recording the outcome."""
    try:
        tag_rows = tags_resolve(session=session, brand=brand, names=tags, known=known_tags)
    except Invalid as exc:
        report.rejected.append((filename, str(exc)))
        return
    # A duplicate is found by the unique (brand, sha256) key refusing the row: one statement
    # fewer for every new image than looking first.
    try:
        with session.begin_nested():
            asset = _asset_add(
                session=session,
                brand=brand,
                filename=filename,
                checked=checked,
                caption=caption[:MAX_CAPTION_LENGTH],
                tags=tag_rows,
            )
    except IntegrityError:  # the same bytes are in already, or arrived concurrently
        duplicate = _asset_by_hash(session=session, brand=brand, sha256=checked.sha256)
        assert duplicate is not None
        report.duplicates.append((filename, duplicate))
        return
    # Blobs only after the row is safely in: a rollback later deletes them again.
    checked.source.seek(0)
    blob_stage(session=session, store=store, key=asset.original_key, data=checked.source)
    blob_stage(session=session, store=store, key=asset.thumbnail_key, data=checked.thumbnail)
    report.accepted.append((filename, asset))


def asset_tags_set(*, session: Session, asset: Asset, tags: list[Tag]) -> None:
    """Give the asset these tags, in this order (the order it is read back in)."""
    asset.tags = tags
    session.flush()
    # The link rows are written by the relationship, which knows no order: number them after.
    if tags:
        session.execute(
            update(asset_tags)
            .where(asset_tags.c.asset_id == bindparam("a"), asset_tags.c.tag_id == bindparam("t"))
            .values(position=bindparam("p")),
            [{"a": asset.id, "t": tag.id, "p": i} for i, tag in enumerate(tags)],
        )


def _asset_by_hash(*, session: Session, brand: Brand, sha256: str) -> Asset | None:
    return session.scalar(
        select(Asset)
        .where(Asset.brand_id == brand.id, Asset.sha256 == sha256)
        .options(selectinload(Asset.tags))
    )


def _asset_add(
    *,
    session: Session,
    brand: Brand,
    filename: str,
    checked: CheckedImage,
    caption: str,
    tags: list[Tag],
) -> Asset:
    asset = Asset(
        brand_id=brand.id,
        sha256=checked.sha256,
        filename=filename[-255:],
        format=checked.format,
        mode=checked.mode,
        width=checked.width,
        height=checked.height,
        size_bytes=checked.size,
        caption=caption.strip(),
        status=AssetStatus.pending,
    )
    session.add(asset)
    session.flush()
    # A new asset's links are written once, numbered, in one statement (asset_tags_set, for
    # edits, lets the relationship write them and numbers them after).
    if tags:
        session.execute(
            insert(asset_tags),
            [{"asset_id": asset.id, "tag_id": t.id, "position": i} for i, t in enumerate(tags)],
        )
    set_committed_value(asset, "tags", tags)
    return asset


@dataclass(frozen=True)
class AssetFilter:
    tag: str | None = None
    status: AssetStatus | None = None
    q: str | None = None


def asset_page(
    *, session: Session, brand: Brand, filters: AssetFilter, cursor: str | None, limit: int
) -> tuple[list[Asset], str | None]:
    """One page of the brand's assets, newest first, and the cursor of the next page.

    Keyset pagination on the asset id: every page costs the same, however deep.
    """
    query, key = _asset_query(session=session, brand=brand, filters=filters)
    if cursor:
        query = query.where(key < _cursor_decode(cursor))
    query = query.options(selectinload(Asset.tags)).order_by(key.desc()).limit(limit + 1)
    rows = list(session.scalars(query))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def asset_ids_matching(
    *, session: Session, brand: Brand, filters: AssetFilter, limit: int
) -> list[int]:
    """The ids of the brand's assets the gallery's filters show, newest first, at most `limit`."""
    query, key = _asset_query(session=session, brand=brand, filters=filters)
    return [a.id for a in session.scalars(query.order_by(key.desc()).limit(limit))]


def _asset_query(
    *, session: Session, brand: Brand, filters: AssetFilter
) -> tuple[Select[Asset], ColumnElement[int]]:
    """The filtered query and the id column to page on.

    With a tag, paging walks the (tag_id, asset_id) index of the link table backwards
    instead of scanning every asset that has the tag.
    """
    query = select(Asset).where(Asset.brand_id == brand.id)
    key: ColumnElement[int] = Asset.id.expression
    if filters.tag:
        name = " ".join(filters.tag.split()).lower()
        tag_id = session.scalar(select(Tag.id).where(Tag.brand_id == brand.id, Tag.name == name))
        query = query.join(asset_tags, asset_tags.c.asset_id == Asset.id).where(
            asset_tags.c.tag_id == (tag_id or -1)
        )
        key = asset_tags.c.asset_id
    if filters.status is not None:
        query = query.where(Asset.status == filters.status)
    if filters.q:
        pattern = f"%{_like_escape(filters.q.strip())}%"
        query = query.where(
            or_(
                Asset.caption.ilike(pattern, escape="\\"),
                Asset.filename.ilike(pattern, escape="\\"),
            )
        )
    return query, key


@dataclass(frozen=True)
class Neighbours:
    """The ids either side of an asset in the gallery's order (newest first), if any."""

    newer: int | None
    older: int | None


def asset_neighbours(
    *, session: Session, brand: Brand, asset_id: int, filters: AssetFilter
) -> Neighbours:
    """The assets before and after this one in the gallery, as filtered."""
    query, key = _asset_query(session=session, brand=brand, filters=filters)
    ids = query.with_only_columns(key).limit(1)
    return Neighbours(
        newer=session.scalar(ids.where(key > asset_id).order_by(key.asc())),
        older=session.scalar(ids.where(key < asset_id).order_by(key.desc())),
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cursor_decode(cursor: str) -> int:
    if not cursor.isdigit():
        raise Invalid("the cursor is not one this server handed out")
    return int(cursor)


def asset_get(*, session: Session, asset_id: int, brand: Brand | None = None) -> Asset:
    """The asset with this id and its tags (one of `brand`'s, when given), or NotFound."""
    asset = session.scalar(
        select(Asset).where(Asset.id == asset_id).options(selectinload(Asset.tags))
    )
    if asset is None or (brand is not None and asset.brand_id != brand.id):
        raise NotFound(f"no asset {asset_id}")
    return asset


def asset_update(
    *,
    session: Session,
    brand: Brand,
    asset: Asset,
    caption: str | None = None,
    tags: Sequence[str] | None = None,
    status: AssetStatus | None = None,
    reason: str | None = None,
) -> Asset:
    """Edit an asset's caption, tags or review status (a rejection with an optional reason);
    fields left as None stay as they are."""
    if caption is not None:
        if len(caption) > MAX_CAPTION_LENGTH:
            raise Invalid(f"the caption is longer than {MAX_CAPTION_LENGTH} characters")
        asset.caption = caption.strip()
    if tags is not None:
        asset_tags_set(
            session=session,
            asset=asset,
            tags=tags_resolve(session=session, brand=brand, names=tags),
        )
    if status is not None:
        asset.status = status
        reason = " ".join((reason or "").split())
        if len(reason) > MAX_REASON_LENGTH:
            raise Invalid(f"the reason is longer than {MAX_REASON_LENGTH} characters")
        asset.reject_reason = reason if status == AssetStatus.rejected else ""
    session.flush()
    return asset


def asset_next_pending(
    *, session: Session, brand: Brand, after: int, filters: AssetFilter
) -> int | None:
    """The pending asset to review after `after`: the next older in the gallery, else the
    newest still pending (the filters' tag and search kept)."""
    pending = AssetFilter(tag=filters.tag, status=AssetStatus.pending, q=filters.q)
    query, key = _asset_query(session=session, brand=brand, filters=pending)
    ids = query.with_only_columns(key).order_by(key.desc()).limit(1)
    return session.scalar(ids.where(key < after)) or session.scalar(ids.where(key != after))


def assets_approve(*, session: Session, brand: Brand, filters: AssetFilter) -> list[int]:
    """Approve every pending asset that the filters' tag and search match; their ids."""
    pending = AssetFilter(tag=filters.tag, status=AssetStatus.pending, q=filters.q)
    query, key = _asset_query(session=session, brand=brand, filters=pending)
    ids = list(session.scalars(query.with_only_columns(key).order_by(key.desc())))
    for chunk in range(0, len(ids), 500):
        session.execute(
            update(Asset)
            .where(Asset.id.in_(ids[chunk : chunk + 500]))
            .values(status=AssetStatus.approved, reject_reason="")
            .execution_options(synchronize_session=False)
        )
    return ids


def asset_count(*, session: Session, brand: Brand, filters: AssetFilter) -> int:
    """How many of the brand's assets the filters match."""
    query, key = _asset_query(session=session, brand=brand, filters=filters)
    return (
        session.scalar(select(func.count()).select_from(query.with_only_columns(key).subquery()))
        or 0
    )


def asset_counts(*, session: Session, brand: Brand) -> dict[str, int]:
    """How many of the brand's assets are in each review status."""
    rows = session.execute(
        select(Asset.status, func.count()).where(Asset.brand_id == brand.id).group_by(Asset.status)
    )
    counts = {status.value: 0 for status in AssetStatus}
    counts.update({status.value: n for status, n in rows})
    return counts


def tag_names(*, session: Session, brand: Brand) -> list[str]:
    """The brand's tag names, alphabetically."""
    return list(
        session.scalars(select(Tag.name).where(Tag.brand_id == brand.id).order_by(Tag.name))
    )
