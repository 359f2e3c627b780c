"""Zip uploads, read as a stream: safe member names, one member in memory, manifests applied."""

from __future__ import annotations

import csv
import io
import json
import lzma
import posixpath
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from app.assets.images import Limits, Rejected, is_zip, readable_size

MANIFEST_MAX_BYTES = 20 * 1024**2
_CHUNK_BYTES = 1024**2
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
_FILE_KEYS = ("file", "filename", "file_name")
# Inside a manifest's tags cell; not "," so that a tag may itself contain a comma, and a CSV
# cell needs no quoting for the usual "red;leather;bag".
_TAG_SEPARATORS = re.compile(r"[;|]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_NESTED = "it is an archive inside the archive; upload it on its own"
_NOT_ZIP = "not a valid zip archive"
# The end records of a zip (APPNOTE 4.3.14-16), little-endian. The central directory's entry
# count and size are read from them before zipfile builds an object per entry.
_END = struct.Struct("<4s4H2LH")  # signature, disks, entries here and in all, size, offset
_END_SIGNATURE = b"PK\x05\x06"
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_END64 = struct.Struct("<4sQ2H2L4Q")  # ..., entries here and in all, size, offset
_DIRECTORY_ENTRY_SIGNATURE = b"PK\x01\x02"
# A directory entry is 46 bytes and its name, extra fields and comment: a kilobyte each is
# generous for real archives and bounds what a lying entry count can make us read.
_DIRECTORY_BYTES_PER_MEMBER = 1024


@dataclass(frozen=True)
class ArchiveEntry:
    """One member of an upload archive, or one manifest row we could not use."""

    name: str
    data: bytes | None
    error: str | None
    caption: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Row:
    """A manifest's caption and tags for one file, with where the row was."""

    where: str
    file: str
    caption: str
    tags: tuple[str, ...]


class _Unreadable(Exception):
    """A member we could not unpack, with the reason a person reads."""


def archive_entries(
    fileobj: IO[bytes], *, limits: Limits, request_unpacked: int = 0
) -> Iterator[ArchiveEntry]:
    """Check a zip archive as a whole, then yield its members one at a time, captioned.

    `request_unpacked` is what the upload's earlier archives unpacked: the upload as a whole
    may unpack at most `limits.max_request_unpacked_bytes`.
    """
    # Whole-archive refusals raise here, at the call; after that, entries stream lazily, and
    # if the bytes actually unpacked pass the archive limit the iteration raises Rejected,
    # leaving the entries already yielded valid.
    _check_directory(fileobj, limits=limits)
    archive = _opened(fileobj)
    infos = archive.infolist()
    budget = _Budget(limits, before=request_unpacked)
    _check_totals(infos, limits=limits, budget=budget)
    return _entries(archive, infos, limits=limits, budget=budget)


def archive_members(
    fileobj: IO[bytes], *, limits: Limits, request_unpacked: int = 0
) -> tuple[list[str], int]:
    """Check a zip archive as a whole, as `archive_entries` does, without unpacking it: the
    names of the members an ingest answers for (not folders, clutter or manifests), in its
    order, and the bytes it declares it unpacks to. Raises Rejected as that call would."""
    _check_directory(fileobj, limits=limits)
    with _opened(fileobj) as archive:
        infos = archive.infolist()
    _check_totals(infos, limits=limits, budget=_Budget(limits, before=request_unpacked))
    fileobj.seek(0)
    answered = [
        info.filename
        for info in infos
        if not _is_skipped(info) and (_refusal(info) or not _is_manifest(info.filename))
    ]
    return answered, sum(info.file_size for info in infos)


@dataclass(frozen=True)
class _Budget:
    """How many bytes one archive may unpack: its own limit and what the upload has left."""

    limits: Limits
    before: int

    def refusal(self, unpacked: int, *, more: bool = False) -> str | None:
        """Why `unpacked` bytes are too many (`more`: "more than"), or None."""
        archive_limit = self.limits.max_archive_uncompressed_bytes
        upload_limit = self.limits.max_request_unpacked_bytes
        amount = "more than the" if more else f"{readable_size(unpacked)}, over the"
        if unpacked > archive_limit:
            return f"the archive unpacks to {amount} {readable_size(archive_limit)} limit"
        if self.before + unpacked > upload_limit:
            return (
                f"with the archives before it, this upload unpacks to more than the "
                f"{readable_size(upload_limit)} limit of one upload; send it in another upload"
            )
        return None


def _check_directory(fileobj: IO[bytes], *, limits: Limits) -> None:
    """Refuse an archive with too many members from its end record, before zipfile reads
    the central directory (an object per entry: 200,000 entries took 110 MiB)."""
    declared, start, size = _directory_extent(fileobj)
    _check_members(declared, limits=limits)
    if size > limits.max_archive_members * _DIRECTORY_BYTES_PER_MEMBER:
        raise Rejected("the archive's list of files is too large")
    # zipfile trusts the directory's size, not its count: count the entries' signatures in
    # those bytes (never fewer than the entries zipfile would make of them).
    fileobj.seek(start)
    _check_members(fileobj.read(size).count(_DIRECTORY_ENTRY_SIGNATURE), limits=limits)
    fileobj.seek(0)


def _directory_extent(fileobj: IO[bytes]) -> tuple[int, int, int]:
    """The central directory's entry count, start and size, as the end records state them."""
    length = fileobj.seek(0, io.SEEK_END)
    tail_start = max(0, length - _END.size - 0xFFFF)  # the record, then a comment of <64 KiB
    fileobj.seek(tail_start)
    tail = fileobj.read()
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or at + _END.size > len(tail):
        raise Rejected(_NOT_ZIP)
    *_, entries, size, _offset, _comment = _END.unpack_from(tail, at)
    end = tail_start + at
    locator = tail[at - _END64_LOCATOR.size : at] if at >= _END64_LOCATOR.size else b""
    if locator.startswith(_END64_LOCATOR_SIGNATURE):  # zip64: the counts are in its record
        end -= _END64_LOCATOR.size + _END64.size
        fileobj.seek(max(end, 0))
        record = fileobj.read(_END64.size)
        if len(record) < _END64.size:
            raise Rejected(_NOT_ZIP)
        *_, entries, size, _offset = _END64.unpack(record)
    return entries, max(end - size, 0), size


def _check_members(count: int, *, limits: Limits) -> None:
    """Refuse an archive of more members than the limit."""
    if count > limits.max_archive_members:
        raise Rejected(
            f"the archive holds {count:,} files, over the limit of {limits.max_archive_members:,}"
        )


def _opened(fileobj: IO[bytes]) -> zipfile.ZipFile:
    """Open the zip's central directory, or refuse the upload."""
    try:
        return zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise Rejected(_NOT_ZIP) from exc


def _check_totals(infos: list[zipfile.ZipInfo], *, limits: Limits, budget: _Budget) -> None:
    """Refuse an archive whose declared member count or unpacked size is over the limits."""
    _check_members(len(infos), limits=limits)
    if refusal := budget.refusal(sum(info.file_size for info in infos)):
        raise Rejected(refusal)


def _entries(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], *, limits: Limits, budget: _Budget
) -> Iterator[ArchiveEntry]:
    """Refuse unsafe members, apply the manifests, then unpack the rest one by one."""
    with archive:
        members, manifests = [], []
        for info in infos:
            if _is_skipped(info):
                continue
            if refusal := _refusal(info):
                yield _error(info.filename, refusal)
            elif _is_manifest(info.filename):
                manifests.append(info)
            else:
                members.append(info)
        names = {info.filename for info in members}
        notes: dict[str, _Row] = {}
        for info in manifests:
            yield from _annotate(_manifest_rows(archive, info), info.filename, names, notes)
        yield from _unpacked(archive, members, notes=notes, limits=limits, budget=budget)


def _unpacked(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    *,
    notes: dict[str, _Row],
    limits: Limits,
    budget: _Budget,
) -> Iterator[ArchiveEntry]:
    """Yield each member's bytes with its caption, counting what was really unpacked."""
    unpacked = 0
    for info in members:
        entry = _member_entry(archive, info, note=notes.get(info.filename), limits=limits)
        unpacked += len(entry.data or b"")
        # zipfile stops at each member's declared size, so this is belt and braces against a
        # reader that would not.
        if refusal := budget.refusal(unpacked, more=True):
            raise Rejected(refusal)
        yield entry


def _member_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, note: _Row | None, limits: Limits
) -> ArchiveEntry:
    """Unpack one member into an entry, or an error entry saying why not."""
    try:
        data = _read(archive, info, cap=limits.max_file_bytes)
    except _Unreadable as exc:
        return _error(info.filename, str(exc))
    if is_zip(data[:4]):
        return _error(info.filename, _NESTED)
    caption, tags = (note.caption, note.tags) if note else ("", ())
    return ArchiveEntry(name=info.filename, data=data, error=None, caption=caption, tags=tags)


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, cap: int) -> bytes:
    """Unpack one member in chunks, counting the bytes actually produced against cap."""
    # The declared size is checked first to save the work, but it can lie: the count decides.
    too_large = f"the file unpacks to more than the {readable_size(cap)} limit"
    if info.file_size > cap:
        raise _Unreadable(too_large)
    chunks, size = [], 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK_BYTES):
                size += len(chunk)
                if size > cap:
                    raise _Unreadable(too_large)
                chunks.append(chunk)
    except NotImplementedError as exc:
        raise _Unreadable("it uses a compression method we cannot unpack") from exc
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
        raise _Unreadable("it is damaged and cannot be unpacked") from exc
    return b"".join(chunks)


def _is_skipped(info: zipfile.ZipInfo) -> bool:
    """Whether a member is a folder or operating-system clutter, dropped without a word."""
    parts = info.filename.split("/")
    base = parts[-1]
    return info.is_dir() or "__MACOSX" in parts or base in _JUNK_NAMES or base.startswith("._")


def _refusal(info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be read at all, or None when it may be."""
    name = info.filename
    if name.startswith("/") or _DRIVE.match(name):
        return "its path is absolute"
    if "\\" in name:
        return "its path uses backslashes"
    if ".." in name.split("/"):
        return "its path climbs out of the archive with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a symbolic link"
    if info.flag_bits & 0x1:
        return "it is password-protected"
    if name.lower().endswith(".zip"):
        return _NESTED
    return None


def _is_manifest(name: str) -> bool:
    """Whether a member is a manifest: at the root or in a top-level folder, csv/jsonl/json."""
    base = posixpath.basename(name).lower()
    shallow = name.count("/") <= 1
    return shallow and (base in ("manifest.csv", "manifest.jsonl") or base.endswith(".json"))


def _annotate(
    rows: Iterable[_Row | ArchiveEntry], manifest: str, names: set[str], notes: dict[str, _Row]
) -> Iterator[ArchiveEntry]:
    """Record each manifest row in notes under its member path; yield the rows we cannot use."""
    folder = posixpath.dirname(manifest)
    for row in rows:
        if isinstance(row, ArchiveEntry):
            yield row
            continue
        # Relative to the manifest's folder, as documented; from the archive root as a fallback
        # for manifests written before the folder was zipped.
        paths = (posixpath.normpath(posixpath.join(folder, row.file)), posixpath.normpath(row.file))
        path = next((path for path in paths if path in names), None)
        if path is None:
            yield _error(row.where, f"names {row.file!r}, which is not in the archive")
        elif path in notes:
            yield _error(row.where, f"names {row.file!r} again; {notes[path].where} already did")
        else:
            notes[path] = row


def _manifest_rows(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo
) -> Iterator[_Row | ArchiveEntry]:
    """Read a manifest member and parse it by its kind, yielding rows and row errors."""
    try:
        text = _read(archive, info, cap=MANIFEST_MAX_BYTES).decode("utf-8-sig")
    except _Unreadable as exc:
        yield _error(info.filename, f"the manifest cannot be used: {exc}")
        return
    except UnicodeDecodeError:
        yield _error(info.filename, "the manifest is not UTF-8 text")
        return
    base = info.filename.lower()
    if base.endswith(".csv"):
        yield from _csv_rows(text, info.filename)
    elif base.endswith(".jsonl"):
        yield from _jsonl_rows(text, info.filename)
    else:
        yield from _coco_rows(text, info.filename)


def _csv_rows(text: str, path: str) -> Iterator[_Row | ArchiveEntry]:
    """Parse manifest.csv; rows are named by the physical line they start on (header is 1)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        columns = _columns(header)
        if "file" not in columns:
            yield _error(path, "the header row needs a 'file' column (and 'caption', 'tags')")
            return
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                yield _csv_row(cells, columns, width=len(header), where=f"{path} line {start}")
    except csv.Error as exc:
        yield _error(f"{path} line {reader.line_num}", f"the CSV cannot be read ({exc})")


def _columns(header: list[str]) -> dict[str, int]:
    """Map lower-cased header names to cell positions, with file/filename/file_name as 'file'."""
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        columns.setdefault("file" if name in _FILE_KEYS else name, index)
    return columns


def _csv_row(
    cells: list[str], columns: dict[str, int], *, width: int, where: str
) -> _Row | ArchiveEntry:
    """Turn one CSV record into a row, or an error entry when it is malformed."""
    if len(cells) > width:
        return _error(where, f"has {len(cells)} cells but the header has {width}")

    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    if not cell("file"):
        return _error(where, "has no file name")
    return _Row(where, cell("file"), cell("caption"), _tags(_TAG_SEPARATORS.split(cell("tags"))))


def _jsonl_rows(text: str, path: str) -> Iterator[_Row | ArchiveEntry]:
    """Parse manifest.jsonl, one object per line, rows named by line number."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            yield _error(where, "is not valid JSON")
            continue
        yield _record_row(record, where=where)


def _record_row(record: Any, *, where: str) -> _Row | ArchiveEntry:
    """Turn one JSON Lines object into a row, or an error entry when it is malformed."""
    if not isinstance(record, dict):
        return _error(where, "is not a JSON object")
    file = next((record[key] for key in _FILE_KEYS if key in record), None)
    caption = "" if record.get("caption") is None else record["caption"]
    tags = [] if record.get("tags") is None else record["tags"]
    if not isinstance(file, str) or not file.strip():
        return _error(where, 'has no "file" name')
    if not isinstance(caption, str):
        return _error(where, '"caption" must be text')
    if isinstance(tags, str):
        tags = _TAG_SEPARATORS.split(tags)
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return _error(where, '"tags" must be a list of strings or one "a;b" string')
    return _Row(where, file.strip(), caption.strip(), _tags(tags))


def _coco_rows(text: str, path: str) -> Iterator[_Row | ArchiveEntry]:
    """Parse a COCO captions file: the first caption of each image, and its tags where the
    image carries a `tags` list (not COCO's own: Atelier's export writes it)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        yield _error(path, "is not valid JSON")
        return
    images = document.get("images") if isinstance(document, dict) else None
    annotations = document.get("annotations") if isinstance(document, dict) else None
    if not isinstance(images, list) or not isinstance(annotations, list):
        yield _error(path, 'is not a COCO captions file (it needs "images" and "annotations")')
        return
    captions = _first_captions(annotations)
    for number, image in enumerate(images, start=1):
        where = f"{path} image {number}"
        file = image.get("file_name") if isinstance(image, dict) else None
        tags = (image.get("tags") or []) if isinstance(image, dict) else []
        if not isinstance(file, str) or not file.strip() or not _is_key(image.get("id")):
            yield _error(where, 'needs an "id" and a "file_name"')
        elif not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            yield _error(where, '"tags" must be a list of strings')
        else:
            yield _Row(where, file.strip(), captions.get(image["id"], ""), _tags(tags))


def _first_captions(annotations: list[Any]) -> dict[int | str, str]:
    """Map each image id to its first caption; COCO often has several per image."""
    captions: dict[int | str, str] = {}
    for annotation in annotations:
        if not isinstance(annotation, dict) or not _is_key(annotation.get("image_id")):
            continue
        if isinstance(annotation.get("caption"), str):
            captions.setdefault(annotation["image_id"], annotation["caption"].strip())
    return captions


def _is_key(value: Any) -> bool:
    """Whether a COCO id is usable: an integer or a string, never a bool."""
    return isinstance(value, int | str) and not isinstance(value, bool)


def _tags(values: Iterable[str]) -> tuple[str, ...]:
    """Strip tags and drop empty and repeated ones, keeping case and order."""
    return tuple(dict.fromkeys(tag.strip() for tag in values if tag.strip()))


def _error(name: str, reason: str) -> ArchiveEntry:
    """An entry that carries only why something was refused."""
    return ArchiveEntry(name=name, data=None, error=reason)
