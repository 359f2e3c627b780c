"""Style guides: every upload and every edit of the terms is a new, immutable version."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.brands.models import Brand
from app.errors import Conflict, Invalid, NotFound
from app.storage import BlobStore, blob_stage
from app.styleguides.diff import TermsDiff, guide_terms_of, terms_diff
from app.styleguides.extract import Unreadable, styleguide_extract
from app.styleguides.glossary import GuideTerms
from app.styleguides.models import StyleGuideVersion, StyleTerm, TermKind
from app.styleguides.terms import Term, terms_parse

_SHA256 = re.compile(r"[0-9a-f]{64}")


def styleguide_upload(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    data: bytes,
    max_bytes: int,
    max_pages: int = 500,
    max_seconds: float = 20.0,
) -> StyleGuideVersion:
    """Extract a guide's text and terms and keep them, with the file, as a new version."""
    try:
        extracted = styleguide_extract(
            data,
            filename=filename,
            max_bytes=max_bytes,
            max_pages=max_pages,
            max_seconds=max_seconds,
        )
    except Unreadable as exc:
        raise Invalid(str(exc)) from exc
    version = _version_add(
        session=session,
        brand=brand,
        filename=filename,
        media_type=extracted.media_type,
        sha256=hashlib.sha256(data).hexdigest(),
        text=extracted.text,
        terms=terms_parse(extracted.text),
        note="uploaded",
    )
    if not store.exists(version.source_key):
        blob_stage(session=session, store=store, key=version.source_key, data=data)
    return version


@dataclass(frozen=True)
class Preview:
    """A guide uploaded but not yet kept: its file's hash and what it would change."""

    filename: str
    sha256: str
    diff: TermsDiff


def styleguide_preview(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    data: bytes,
    max_bytes: int,
    max_pages: int = 500,
    max_seconds: float = 20.0,
) -> Preview:
    """Read a guide and say what its terms change, keeping the file until it is confirmed."""
    try:
        extracted = styleguide_extract(
            data,
            filename=filename,
            max_bytes=max_bytes,
            max_pages=max_pages,
            max_seconds=max_seconds,
        )
    except Unreadable as exc:
        raise Invalid(str(exc)) from exc
    sha256 = hashlib.sha256(data).hexdigest()
    key = _source_key(brand, sha256)
    # Content-addressed: a preview never confirmed leaves one file that the next upload of the
    # same guide reuses.
    if not store.exists(key):
        blob_stage(session=session, store=store, key=key, data=data)
    diff = terms_diff(
        old=styleguide_terms(session=session, brand=brand),
        new=guide_terms_of(terms_parse(extracted.text)),
    )
    return Preview(filename=filename, sha256=sha256, diff=diff)


def styleguide_confirm(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    filename: str,
    sha256: str,
    max_bytes: int,
    max_pages: int = 500,
    max_seconds: float = 20.0,
) -> StyleGuideVersion:
    """Keep a previewed guide as the new version."""
    key = _source_key(brand, sha256)
    if not _SHA256.fullmatch(sha256) or not store.exists(key):
        raise Invalid("that upload is no longer here; upload the guide again")
    return styleguide_upload(
        session=session,
        store=store,
        brand=brand,
        filename=filename,
        data=store.get(key),
        max_bytes=max_bytes,
        max_pages=max_pages,
        max_seconds=max_seconds,
    )


def _source_key(brand: Brand, sha256: str) -> str:
    return StyleGuideVersion(brand_id=brand.id, sha256=sha256).source_key


def styleguide_terms_edit(
    *, session: Session, brand: Brand, terms: Sequence[Term]
) -> StyleGuideVersion:
    """Keep edited terms as a new version of the current guide (its text unchanged)."""
    current = styleguide_current(session=session, brand=brand)
    if current is None:
        raise Invalid("upload a style guide before editing its terms")
    return _version_add(
        session=session,
        brand=brand,
        filename=current.filename,
        media_type=current.media_type,
        sha256=current.sha256,
        text=current.text,
        terms=terms,
        note="terms edited",
    )


def _version_add(
    *,
    session: Session,
    brand: Brand,
    filename: str,
    media_type: str,
    sha256: str,
    text: str,
    terms: Sequence[Term],
    note: str,
) -> StyleGuideVersion:
    latest = session.scalar(
        select(func.max(StyleGuideVersion.version)).where(StyleGuideVersion.brand_id == brand.id)
    )
    version = StyleGuideVersion(
        brand_id=brand.id,
        version=(latest or 0) + 1,
        filename=filename[-255:],
        media_type=media_type,
        sha256=sha256,
        text=text,
        note=note,
        terms=[
            StyleTerm(position=i, kind=TermKind(t.kind), term=t.term, instead_of=list(t.instead_of))
            for i, t in enumerate(terms)
        ],
    )
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError as exc:
        raise Conflict("the style guide changed meanwhile; try again") from exc
    return version


def styleguide_current(*, session: Session, brand: Brand) -> StyleGuideVersion | None:
    """The brand's newest style guide version with its terms, if it has one."""
    return session.scalar(
        select(StyleGuideVersion)
        .where(StyleGuideVersion.brand_id == brand.id)
        .order_by(StyleGuideVersion.version.desc())
        .limit(1)
        .options(selectinload(StyleGuideVersion.terms))
    )


def styleguide_terms(*, session: Session, brand: Brand) -> GuideTerms:
    """The terms of the brand's current style guide (none without a guide)."""
    return GuideTerms.of(styleguide_current(session=session, brand=brand))


def styleguide_version(*, session: Session, brand: Brand, version: int) -> StyleGuideVersion:
    """One version of the brand's style guide with its terms, or NotFound."""
    found = session.scalar(
        select(StyleGuideVersion)
        .where(StyleGuideVersion.brand_id == brand.id, StyleGuideVersion.version == version)
        .options(selectinload(StyleGuideVersion.terms))
    )
    if found is None:
        raise NotFound(f"no style guide version {version}")
    return found


def styleguide_history(*, session: Session, brand: Brand) -> list[StyleGuideVersion]:
    """Every version of the brand's style guide, newest first (without text or terms)."""
    return list(
        session.scalars(
            select(StyleGuideVersion)
            .where(StyleGuideVersion.brand_id == brand.id)
            .order_by(StyleGuideVersion.version.desc())
        )
    )
