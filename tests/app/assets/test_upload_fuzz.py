"""Property-based tests of the upload endpoint: generated malformed images, archives with
odd member names and manifests with random rows. Whatever arrives, the answer is never a
server error, and rows and blobs stay in step: every blob belongs to a row, every row's blobs
exist."""

import csv
import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.brands.models import Brand
from app.storage import LocalBlobStore
from tests import corpus

pytestmark = pytest.mark.fuzz

UPLOAD = "/api/v1/brands/maison/assets"
# Function-scoped fixtures (client, brand, store) are shared by the examples on purpose: the
# invariant is checked after each one, over everything uploaded so far.
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MAKERS = [corpus.png, corpus.jpeg, corpus.webp, corpus.bmp, corpus.tiff]


@st.composite
def images(draw: st.DrawFn) -> bytes:
    """A small valid image of a random format, size and colour, then maybe damaged."""
    make = draw(st.sampled_from(MAKERS))
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    colour = draw(st.tuples(*[st.integers(0, 255)] * 3))
    data = bytearray(make(size=size, colour=colour))
    damage = draw(st.sampled_from(["none", "truncate", "flip", "splice"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for at in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[at] ^= 1 << draw(st.integers(0, 7))
    elif damage == "splice":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


NAMES = st.one_of(
    st.text(min_size=0, max_size=30),
    st.sampled_from(["../evil.png", "/abs.png", "C:\\x.png", "a/../../b.png", ".hidden.png"]),
    st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8}){0,3}\.(png|jpg|webp|txt|zip)", fullmatch=True),
)


@st.composite
def manifests(draw: st.DrawFn, names: list[str]) -> tuple[str, bytes]:
    """manifest.csv or manifest.jsonl with random rows, naming members or nothing at all."""
    rows = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(names or ["x.png"]), st.text(max_size=20)),
                st.text(max_size=60),
                st.lists(st.text(max_size=15), max_size=4),
            ),
            max_size=6,
        )
    )
    if draw(st.booleans()):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(draw(st.sampled_from([["file", "caption", "tags"], ["x", "y"]])))
        for name, caption, tags in rows:
            writer.writerow([name, caption, ",".join(tags)])
        return "manifest.csv", out.getvalue().encode("utf-8", "surrogatepass")
    import json

    lines = [json.dumps({"file": n, "caption": c, "tags": t}) for n, c, t in rows]
    junk = draw(st.lists(st.text(max_size=20), max_size=2))
    return "manifest.jsonl", "\n".join(lines + junk).encode("utf-8", "surrogatepass")


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    members = draw(
        st.lists(st.tuples(NAMES, st.one_of(images(), st.binary(max_size=200))), max_size=5)
    )
    if draw(st.booleans()):
        members.append(draw(manifests([name for name, _ in members])))
    out = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members:
            try:
                archive.writestr(name or "_", data)
            except (ValueError, UnicodeEncodeError):
                continue  # a name zipfile itself refuses to write
    data = out.getvalue()
    if draw(st.booleans()):  # damage the archive itself
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _upload_answers(client: TestClient, files: list[tuple[str, bytes]]) -> None:
    response = client.post(UPLOAD, files=[("files", f) for f in files])
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        body = response.json()
        answered = len(body["accepted"]) + len(body["duplicates"]) + len(body["rejected"])
        assert answered >= len(files), "every file is answered"


def _in_step(session: Session, store: LocalBlobStore) -> None:
    session.commit()  # a fresh snapshot
    expected = set()
    for asset in session.scalars(select(Asset)):
        expected |= {asset.original_key, asset.thumbnail_key}
    assert set(store.list_keys()) == expected, "a blob without its row, or a row without blobs"


@FUZZ
@given(files=st.lists(st.tuples(NAMES, images()), min_size=1, max_size=3))
def test_damaged_images_get_an_answer_and_leave_rows_and_blobs_in_step(
    client: TestClient,
    brand: Brand,
    session: Session,
    store: LocalBlobStore,
    files: list[tuple[str, bytes]],
) -> None:
    _upload_answers(client, files)
    _in_step(session, store)


@FUZZ
@given(files=st.lists(st.tuples(NAMES, archives()), min_size=1, max_size=2))
def test_random_archives_and_manifests_get_an_answer_and_leave_rows_and_blobs_in_step(
    client: TestClient,
    brand: Brand,
    session: Session,
    store: LocalBlobStore,
    files: list[tuple[str, bytes]],
) -> None:
    _upload_answers(client, [(name + ".zip", data) for name, data in files])
    _in_step(session, store)
