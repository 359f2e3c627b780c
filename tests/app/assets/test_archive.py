"""archive_entries against real zip files, hostile and ordinary, made by tests.corpus."""

import io
import json
import tempfile
import tracemalloc
import zipfile

import pytest

from app.assets.archive import MANIFEST_MAX_BYTES, ArchiveEntry, archive_entries
from app.assets.images import Limits, Rejected, image_check
from tests import corpus

LIMITS = Limits()


def entries(data: bytes, limits: Limits = LIMITS) -> dict[str, ArchiveEntry]:
    """All entries of an archive, by name."""
    return {entry.name: entry for entry in archive_entries(io.BytesIO(data), limits=limits)}


def errors(data: bytes) -> dict[str, str | None]:
    """The error entries of an archive: name to reason."""
    return {name: entry.error for name, entry in entries(data).items() if entry.error}


def test_images_without_a_manifest_come_in_uncaptioned() -> None:
    jpeg, png = corpus.jpeg(), corpus.png()
    found = entries(corpus.zip_archive([("a.jpg", jpeg), ("photos/b.png", png)]))
    assert found == {
        "a.jpg": ArchiveEntry(name="a.jpg", data=jpeg, error=None),
        "photos/b.png": ArchiveEntry(name="photos/b.png", data=png, error=None),
    }


def test_members_are_yielded_whatever_they_hold_for_the_caller_to_check() -> None:
    found = entries(corpus.zip_archive([("notes.txt", b"hello"), ("photo.jpg", corpus.png())]))
    assert found["notes.txt"].data == b"hello"
    photo = found["photo.jpg"].data
    assert photo is not None
    assert image_check(photo, limits=LIMITS).format == "PNG"  # named .jpg, sniffed as PNG


def test_folders_and_os_clutter_are_skipped_silently() -> None:
    data = corpus.zip_archive(
        [
            ("shoot/", b""),
            ("shoot/a.jpg", corpus.jpeg()),
            ("shoot/.DS_Store", b"\0\0\0\1Bud1"),
            ("shoot/._a.jpg", b"\0\5\26\7"),
            ("__MACOSX/shoot/._a.jpg", b"\0\5\26\7"),
        ]
    )
    assert list(entries(data)) == ["shoot/a.jpg"]


@pytest.mark.parametrize(
    "data", [b"", b"not a zip at all", corpus.png(), corpus.zip_archive([("a", b"x")])[:-10]]
)
def test_anything_but_a_zip_is_refused(data: bytes) -> None:
    with pytest.raises(Rejected, match="not a valid zip archive"):
        archive_entries(io.BytesIO(data), limits=LIMITS)


def test_too_many_members_refuse_the_archive_before_reading() -> None:
    data = corpus.zip_archive([(f"{index}.jpg", b"x") for index in range(4)])
    with pytest.raises(Rejected, match="holds 4 files, over the limit of 3"):
        archive_entries(io.BytesIO(data), limits=Limits(max_archive_members=3))


def test_declared_unpacked_size_over_the_limit_refuses_the_archive() -> None:
    data = corpus.zip_of_zeros(size=5 * 1024**2)
    with pytest.raises(Rejected, match="unpacks to 5 MB, over the 1 MB limit"):
        archive_entries(io.BytesIO(data), limits=Limits(max_archive_uncompressed_bytes=1024**2))


def test_zip_bomb_member_is_refused_and_the_rest_still_read() -> None:
    bomb = corpus.zip_of_zeros(size=20 * 1024**2)
    assert len(bomb) < 100_000
    data = corpus.zip_archive(
        [("zeros.jpg", b"\0" * 20 * 1024**2), ("ok.jpg", corpus.jpeg())],
        compression=zipfile.ZIP_DEFLATED,
    )
    found = entries(data, Limits(max_file_bytes=1024**2))
    assert found["zeros.jpg"].data is None
    assert found["zeros.jpg"].error == "the file unpacks to more than the 1 MB limit"
    assert found["ok.jpg"].data == corpus.jpeg()


def test_member_that_lies_about_its_size_is_damaged_not_unpacked() -> None:
    data = corpus.zip_lying_size(size=1_000_000, declared=1000)
    found = entries(data, Limits(max_file_bytes=2000))
    assert found["liar.bin"] == ArchiveEntry(
        name="liar.bin", data=None, error="it is damaged and cannot be unpacked"
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.jpg", "climbs out of the archive"),
        ("photos/../../evil.jpg", "climbs out of the archive"),
        ("/abs.jpg", "its path is absolute"),
        ("C:\\x.jpg", "its path is absolute"),
        ("C:x.jpg", "its path is absolute"),
        ("photos\\..\\..\\x.jpg", "backslashes"),
        ("inner.zip", "an archive inside the archive"),
    ],
)
def test_unsafe_members_are_refused_never_read(name: str, reason: str) -> None:
    found = entries(corpus.zip_archive([(name, corpus.jpeg()), ("ok.jpg", corpus.jpeg())]))
    assert found[name].data is None
    assert reason in (found[name].error or "")
    assert found["ok.jpg"].error is None


def test_symlink_member_is_refused() -> None:
    assert errors(corpus.zip_symlink("link.jpg")) == {"link.jpg": "it is a symbolic link"}


def test_encrypted_member_is_refused() -> None:
    assert errors(corpus.zip_encrypted("secret.jpg")) == {"secret.jpg": "it is password-protected"}


def test_zip_inside_under_another_name_is_refused() -> None:
    inner = corpus.zip_archive([("a.jpg", corpus.jpeg())])
    assert "inside the archive" in (errors(corpus.zip_archive([("a.jpg", inner)]))["a.jpg"] or "")


def test_csv_manifest_captions_and_tags_images() -> None:
    manifest = (
        'File,Caption,TAGS\na.jpg,"A red bag, on white", red; leather | bag ;red\nphotos/b.png,,\n'
    )
    found = entries(
        corpus.zip_archive(
            [
                ("manifest.csv", manifest.encode()),
                ("a.jpg", corpus.jpeg()),
                ("photos/b.png", corpus.png()),
                ("c.jpg", corpus.jpeg()),
            ]
        )
    )
    assert "manifest.csv" not in found
    assert (found["a.jpg"].caption, found["a.jpg"].tags) == (
        "A red bag, on white",
        ("red", "leather", "bag"),
    )
    assert (found["photos/b.png"].caption, found["photos/b.png"].tags) == ("", ())
    assert (found["c.jpg"].caption, found["c.jpg"].tags, found["c.jpg"].error) == ("", (), None)


def test_csv_manifest_problems_are_reported_by_physical_line() -> None:
    manifest = (
        "filename,caption,tags\n"  # line 1; "filename" is an alias of "file"
        '"a.jpg","a caption\nover two lines",x\n'  # lines 2-3
        "missing.jpg,lost,\n"  # line 4
        "\n"  # line 5, blank: ignored
        ",no file,\n"  # line 6
        "b.jpg,too,many,cells\n"  # line 7
        "a.jpg,again,\n"  # line 8
        "b.jpg,good row,y\n"  # line 9
    )
    data = corpus.zip_archive(
        [("manifest.csv", manifest.encode()), ("a.jpg", corpus.jpeg()), ("b.jpg", corpus.png())]
    )
    found = entries(data)
    assert {name: entry.error for name, entry in found.items() if entry.error} == {
        "manifest.csv line 4": "names 'missing.jpg', which is not in the archive",
        "manifest.csv line 6": "has no file name",
        "manifest.csv line 7": "has 4 cells but the header has 3",
        "manifest.csv line 8": "names 'a.jpg' again; manifest.csv line 2 already did",
    }
    assert found["a.jpg"].caption == "a caption\nover two lines"
    assert (found["b.jpg"].caption, found["b.jpg"].tags) == ("good row", ("y",))


def test_csv_manifest_without_a_file_column_is_reported() -> None:
    data = corpus.zip_archive([("manifest.csv", b"image,caption\na.jpg,x\n"), ("a.jpg", b"x")])
    assert errors(data) == {
        "manifest.csv": "the header row needs a 'file' column (and 'caption', 'tags')"
    }


def test_jsonl_manifest_applies_good_lines_and_reports_bad_ones() -> None:
    lines = [
        json.dumps({"file": "a.jpg", "caption": " A bag ", "tags": ["red", " Bag", "red", ""]}),
        json.dumps({"file_name": "b.png", "tags": "x|y; z"}),
        "{not json",
        json.dumps(["a.jpg"]),
        json.dumps({"caption": "no file"}),
        json.dumps({"file": "a.jpg", "tags": [1, 2]}),
        "",
        json.dumps({"file": "gone.jpg"}),
    ]
    data = corpus.zip_archive(
        [
            ("manifest.jsonl", "\n".join(lines).encode()),
            ("a.jpg", corpus.jpeg()),
            ("b.png", corpus.png()),
        ]
    )
    found = entries(data)
    assert (found["a.jpg"].caption, found["a.jpg"].tags) == ("A bag", ("red", "Bag"))
    assert (found["b.png"].caption, found["b.png"].tags) == ("", ("x", "y", "z"))
    assert {name: entry.error for name, entry in found.items() if entry.error} == {
        "manifest.jsonl line 3": "is not valid JSON",
        "manifest.jsonl line 4": "is not a JSON object",
        "manifest.jsonl line 5": 'has no "file" name',
        "manifest.jsonl line 6": '"tags" must be a list of strings or one "a;b" string',
        "manifest.jsonl line 8": "names 'gone.jpg', which is not in the archive",
    }


def test_coco_captions_take_the_first_caption_per_image() -> None:
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg"},
            {"id": 2, "file_name": "gone.jpg"},
            {"id": 3},
            {"id": 4, "file_name": "b.png"},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "First caption."},
            {"id": 11, "image_id": 1, "caption": "Second caption."},
            {"id": 12, "image_id": 99, "caption": "For no image."},
        ],
    }
    data = corpus.zip_archive(
        [
            ("captions.json", json.dumps(coco).encode()),
            ("a.jpg", corpus.jpeg()),
            ("b.png", corpus.png()),
        ]
    )
    found = entries(data)
    assert (found["a.jpg"].caption, found["a.jpg"].tags) == ("First caption.", ())
    assert found["b.png"].caption == ""
    assert {name: entry.error for name, entry in found.items() if entry.error} == {
        "captions.json image 2": "names 'gone.jpg', which is not in the archive",
        "captions.json image 3": 'needs an "id" and a "file_name"',
    }


def test_coco_images_may_carry_tags() -> None:
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "tags": ["tote", " burgundy ", "tote", ""]},
            {"id": 2, "file_name": "b.png", "tags": "tote"},
        ],
        "annotations": [{"id": 10, "image_id": 1, "caption": "Camille tote."}],
    }
    data = corpus.zip_archive(
        [
            ("captions.json", json.dumps(coco).encode()),
            ("a.jpg", corpus.jpeg()),
            ("b.png", corpus.png()),
        ]
    )
    found = entries(data)
    assert (found["a.jpg"].caption, found["a.jpg"].tags) == ("Camille tote.", ("tote", "burgundy"))
    assert found["captions.json image 2"].error == '"tags" must be a list of strings'


def test_json_that_is_not_coco_is_reported() -> None:
    data = corpus.zip_archive([("meta.json", b'{"shoot": "spring"}'), ("a.jpg", corpus.jpeg())])
    assert "is not a COCO captions file" in (errors(data)["meta.json"] or "")


def test_manifest_in_the_top_folder_matches_paths_relative_to_it() -> None:
    manifest = b"file,caption,tags\na.jpg,in the folder,\nshoot/b.png,from the root,\n"
    data = corpus.zip_archive(
        [
            ("shoot/manifest.csv", manifest),
            ("shoot/a.jpg", corpus.jpeg()),
            ("shoot/b.png", corpus.png()),
        ]
    )
    found = entries(data)
    assert list(found) == ["shoot/a.jpg", "shoot/b.png"]
    assert found["shoot/a.jpg"].caption == "in the folder"
    assert found["shoot/b.png"].caption == "from the root"


def test_oversized_manifest_is_reported_and_images_still_come_in() -> None:
    manifest = b"file,caption,tags\n" + b"#" * MANIFEST_MAX_BYTES
    data = corpus.zip_archive(
        [("manifest.csv", manifest), ("a.jpg", corpus.jpeg())], compression=zipfile.ZIP_DEFLATED
    )
    found = entries(data)
    assert "the manifest cannot be used" in (found["manifest.csv"].error or "")
    assert found["a.jpg"].data == corpus.jpeg()


def test_non_utf8_manifest_is_reported() -> None:
    data = corpus.zip_archive([("manifest.csv", b"file\n\xff\xfe.jpg\n"), ("a.jpg", b"x")])
    assert errors(data) == {"manifest.csv": "the manifest is not UTF-8 text"}


def test_memory_stays_flat_while_streaming() -> None:
    members = corpus.random_members(count=100, size=200_000)  # 20 MB, incompressible
    with tempfile.SpooledTemporaryFile(max_size=0) as upload:
        upload.write(corpus.zip_archive(members))
        del members
        upload.seek(0)
        tracemalloc.start()
        try:
            count = sum(1 for entry in archive_entries(upload, limits=LIMITS) if entry.data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 100
    assert peak < 2_000_000, f"peak {peak:,} bytes while streaming a 20 MB archive"


def _many_empty_members(count: int) -> bytes:
    """A zip of `count` empty stored members (over 65,535: zipfile writes zip64 end records)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"{index}.jpg", b"")
    return buffer.getvalue()


def _peak_while_refused(data: bytes, match: str) -> int:
    """The peak memory traced while archive_entries refuses the archive."""
    tracemalloc.start()
    try:
        with pytest.raises(Rejected, match=match):
            archive_entries(io.BytesIO(data), limits=LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_member_count_is_refused_from_the_end_record_before_the_directory_is_read() -> None:
    data = _many_empty_members(70_000)  # a zip64 archive of 6.5 MB, written in under 2 s
    peak = _peak_while_refused(data, "holds 70,000 files, over the limit of 10,000")
    # zipfile's directory of 70,000 entries took 38 MB; refused first, 70 KB.
    assert peak < 2 * 1024**2, f"peak {peak:,} bytes"


def test_an_end_record_that_understates_the_count_is_caught_in_the_directory() -> None:
    data = bytearray(_many_empty_members(20_000))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # "1 entry", on disk and in all
    peak = _peak_while_refused(bytes(data), "holds 20,000 files, over the limit of 10,000")
    assert peak < 4 * 1024**2, f"peak {peak:,} bytes"  # the directory's 1 MB, read once


def test_a_directory_over_a_kilobyte_a_member_is_refused() -> None:
    data = corpus.zip_archive([("a" * 2000 + f"{index}.jpg", b"x") for index in range(3)])
    with pytest.raises(Rejected, match="the archive's list of files is too large"):
        archive_entries(io.BytesIO(data), limits=Limits(max_archive_members=3))


def test_what_earlier_archives_unpacked_counts_against_the_upload() -> None:
    data = corpus.zip_archive([("a.jpg", b"x" * 600), ("b.jpg", b"y" * 600)])
    limits = Limits(max_request_unpacked_bytes=2000)
    assert len(list(archive_entries(io.BytesIO(data), limits=limits, request_unpacked=800))) == 2
    with pytest.raises(Rejected, match="with the archives before it, this upload unpacks to"):
        archive_entries(io.BytesIO(data), limits=limits, request_unpacked=801)
