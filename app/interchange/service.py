"""Interchange: a brand's captioned images out as a zip (CSV, JSONL, COCO captions, ShareGPT
for LLaMA-Factory), and a Label Studio export in, through the asset ingest."""

import csv
import io
import json
import posixpath
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.assets.archive import archive_entries
from app.assets.images import Limits, Rejected, is_zip
from app.assets.models import Asset, AssetStatus
from app.assets.service import IngestReport, asset_ingest_image
from app.brands.models import Brand
from app.datasets.models import DatasetItem, DatasetVersion, Split
from app.errors import Invalid, NotFound
from app.exports.models import ExportFormat
from app.interchange.labelstudio import LabelledTask, labelstudio_tasks, upload_name
from app.storage import CHUNK_BYTES, BlobStore

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "TIFF": "tiff",
    "BMP": "bmp",
}
# Formats that are compressed already: stored as they are, not deflated again.
_COMPRESSED = {"jpg", "png", "webp", "gif"}
LABEL_STUDIO_MAX_BYTES = 100 * 1024**2


@dataclass(frozen=True)
class ExportItem:
    """One image to export: where it goes in the zip, its blob, caption, tags and split."""

    file: str  # "images/<sha256>.<ext>", relative to the zip's root and its manifests
    key: str  # the original's blob key
    caption: str
    tags: tuple[str, ...]
    width: int
    height: int
    split: Split | None  # None when the export is the reviewed assets, not a dataset


def export_items(
    *, session: Session, brand: Brand, dataset_id: int | None
) -> tuple[str, list[ExportItem]]:
    """The export's name and items: the brand's approved assets, or one frozen dataset version
    (caption and tags as frozen), in a stable order."""
    if dataset_id is None:
        assets = session.scalars(
            select(Asset)
            .where(Asset.brand_id == brand.id, Asset.status == AssetStatus.approved)
            .options(selectinload(Asset.tags))
            .order_by(Asset.id)
        )
        items = [_item(a, a.caption, [t.name for t in a.tags], None) for a in assets]
        return brand.slug, items
    version = _version(session, brand, dataset_id)
    rows = session.execute(
        select(DatasetItem, Asset)
        .join(Asset, Asset.id == DatasetItem.asset_id)
        .where(DatasetItem.dataset_id == version.id)
        .order_by(DatasetItem.id)
    )
    items = [_item(asset, i.caption, i.tags, i.split) for i, asset in rows]
    return f"{brand.slug}-v{version.version}", items


def export_count(*, session: Session, brand: Brand, dataset_id: int | None) -> tuple[str, int]:
    """The export's name and how many images `export_items` would give, counted, not loaded."""
    if dataset_id is None:
        approved = (Asset.brand_id == brand.id) & (Asset.status == AssetStatus.approved)
        return brand.slug, session.scalar(select(func.count()).where(approved)) or 0
    version = _version(session, brand, dataset_id)
    held = DatasetItem.dataset_id == version.id
    return f"{brand.slug}-v{version.version}", session.scalar(select(func.count()).where(held)) or 0


def _version(session: Session, brand: Brand, dataset_id: int) -> DatasetVersion:
    version = session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.id == dataset_id, DatasetVersion.brand_id == brand.id
        )
    )
    if version is None:  # another brand's dataset does not exist, as far as this one knows
        raise NotFound(f"no dataset {dataset_id}")
    return version


def _item(asset: Asset, caption: str, tags: Iterable[str], split: Split | None) -> ExportItem:
    return ExportItem(
        file=f"images/{asset.sha256}.{EXTENSIONS.get(asset.format, asset.format.lower())}",
        key=asset.original_key,
        caption=caption,
        tags=tuple(tags),
        width=asset.width,
        height=asset.height,
        split=split,
    )


def export_manifests(
    *, items: list[ExportItem], fmt: ExportFormat, name: str, instruction: str
) -> dict[str, bytes]:
    """The manifest files of an export, by their path in the zip."""
    if fmt == ExportFormat.csv:
        return {"manifest.csv": manifest_csv(items)}
    if fmt == ExportFormat.jsonl:
        return {"manifest.jsonl": manifest_jsonl(items)}
    if fmt == ExportFormat.coco:
        return {f"captions{suffix}.json": coco(part) for suffix, part in _parts(items)}
    return sharegpt(items, name=name, instruction=instruction)


def manifest_csv(items: list[ExportItem]) -> bytes:
    """`file,caption,tags[,split]` with tags joined by `;`, as the archive importer reads it."""
    split = any(i.split for i in items)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "caption", "tags", *(["split"] if split else [])])
    for i in items:
        row = [i.file, i.caption, ";".join(i.tags)]
        writer.writerow(row + ([i.split or ""] if split else []))
    return out.getvalue().encode()


def manifest_jsonl(items: list[ExportItem]) -> bytes:
    """One `{"file", "caption", "tags"[, "split"]}` object a line."""
    lines = [
        json.dumps(
            {"file": i.file, "caption": i.caption, "tags": list(i.tags)}
            | ({"split": i.split.value} if i.split else {}),
            ensure_ascii=False,
        )
        for i in items
    ]
    return "".join(line + "\n" for line in lines).encode()


def coco(items: list[ExportItem]) -> bytes:
    """COCO captions: `images` (id, file_name, width, height, and our `tags`), and one
    `annotations` entry (id, image_id, caption) for each captioned image."""
    images = [
        {"id": n, "file_name": i.file, "width": i.width, "height": i.height, "tags": list(i.tags)}
        for n, i in enumerate(items, start=1)
    ]
    annotations = [
        {"id": n, "image_id": n, "caption": i.caption}
        for n, i in enumerate(items, start=1)
        if i.caption
    ]
    document = {"info": {"description": "exported by Atelier"}, "images": images}
    return _json({**document, "annotations": annotations})


def sharegpt(items: list[ExportItem], *, name: str, instruction: str) -> dict[str, bytes]:
    """LLaMA-Factory's multimodal ShareGPT files, one a split, and their `dataset_info.json`;
    an image without a caption teaches nothing and is left out."""
    files, info = {}, {}
    for suffix, part in _parts(items):
        stem = f"{name}{suffix}"
        files[f"{stem}.json"] = _json([_conversation(i, instruction) for i in part if i.caption])
        info[stem] = {
            "file_name": f"{stem}.json",
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
            },
        }
    return files | {"dataset_info.json": _json(info)}


def _conversation(item: ExportItem, instruction: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": f"<image>{instruction}"},
            {"role": "assistant", "content": item.caption},
        ],
        "images": [item.file],
    }


def _parts(items: list[ExportItem]) -> list[tuple[str, list[ExportItem]]]:
    """The items as one part, or a dataset's as one part a split (`_train`, `_validation`)."""
    if not any(i.split for i in items):
        return [("", items)]
    return [(f"_{s.value}", [i for i in items if i.split == s]) for s in Split]


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def export_write(
    *,
    store: BlobStore,
    items: list[ExportItem],
    manifests: dict[str, bytes],
    out: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the zip: the manifests, then each original image streamed from the store;
    `progress` hears how many images are written after each (it may raise to stop)."""
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in manifests.items():
            archive.writestr(path, data, compress_type=zipfile.ZIP_DEFLATED)
        for done, item in enumerate(items, start=1):
            member = zipfile.ZipInfo(item.file, date_time=time.localtime()[:6])
            member.external_attr = 0o600 << 16  # as writestr gives a member
            stored = posixpath.splitext(item.file)[1][1:] in _COMPRESSED
            member.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with store.open(item.key) as blob, archive.open(member, "w") as entry:
                shutil.copyfileobj(blob, entry, CHUNK_BYTES)
            if progress is not None:
                progress(done)


def labelstudio_import(
    *,
    session: Session,
    store: BlobStore,
    brand: Brand,
    export: bytes,
    uploads: Iterable[tuple[str, BinaryIO]],
    limits: Limits,
    report: IngestReport,
) -> int:
    """Ingest the images a Label Studio export's tasks name, captioned and tagged as their
    latest annotation says; answer how many tasks the export held."""
    if len(export) > LABEL_STUDIO_MAX_BYTES:
        raise Invalid("the Label Studio export is over the 100 MB limit")
    tasks, refused = labelstudio_tasks(export)  # before anything is written: Invalid is clean
    report.rejected.extend(refused)
    matcher = _TaskMatcher(tasks)
    for filename, member, data in _images(uploads, limits=limits, report=report):
        task, why = matcher.claim(posixpath.basename(member))
        if task is None:
            report.rejected.append((filename, why))
            continue
        asset_ingest_image(
            session=session,
            store=store,
            brand=brand,
            filename=filename,
            data=data,
            caption=task.caption,
            tags=task.tags,
            limits=limits,
            report=report,
        )
    for task in matcher.unclaimed():
        report.rejected.append(
            (f"{task.where}: {task.image}", "its image was not among the uploaded files")
        )
    return len(tasks) + len(refused)


def _images(
    uploads: Iterable[tuple[str, BinaryIO]], *, limits: Limits, report: IngestReport
) -> Iterator[tuple[str, str, bytes]]:
    """Each uploaded image, or each image of an uploaded zip: the name we report it by, its
    own path, its bytes."""
    for filename, fileobj in uploads:
        head = fileobj.read(4)
        fileobj.seek(0)
        if not is_zip(head):
            yield filename, filename, fileobj.read(limits.max_file_bytes + 1)
            continue
        try:
            for entry in archive_entries(fileobj, limits=limits):
                name = f"{filename}: {entry.name}"
                if entry.data is None:
                    report.rejected.append((name, entry.error or "could not be read"))
                else:
                    yield name, entry.name, entry.data
        except Rejected as exc:
            report.rejected.append((filename, str(exc)))


class _TaskMatcher:
    """Finds the task of an uploaded image by file name: exactly as Label Studio stored it,
    or else without its upload prefix on either side; each task takes one image."""

    def __init__(self, tasks: list[LabelledTask]) -> None:
        self.tasks = tasks
        self.exact: dict[str, list[int]] = {}
        self.loose: dict[str, list[int]] = {}
        for n, task in enumerate(tasks):
            self.exact.setdefault(task.image, []).append(n)
            self.loose.setdefault(upload_name(task.image), []).append(n)
        self.claimed: set[int] = set()

    def claim(self, name: str) -> tuple[LabelledTask | None, str]:
        """The unclaimed task for this file name, or None and why not."""
        candidates = self.exact.get(name) or self.loose.get(upload_name(name), [])
        found = [n for n in candidates if n not in self.claimed]
        if not candidates:
            return None, "no task of the Label Studio export names this image"
        if not found:
            return None, f"{self.tasks[candidates[0]].where} already took an image of this name"
        if len(found) > 1 and name not in self.exact:
            both = " and ".join(self.tasks[n].where for n in found[:2])
            return None, f"its name matches {both}; upload it under its Label Studio name"
        self.claimed.add(found[0])
        return self.tasks[found[0]], ""

    def unclaimed(self) -> list[LabelledTask]:
        """The tasks no uploaded image matched."""
        return [t for n, t in enumerate(self.tasks) if n not in self.claimed]
