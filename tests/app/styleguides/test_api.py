"""Style guide upload, versions and term edits through the API and the page forms."""

import io

import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.brands.models import Brand
from app.storage import LocalBlobStore
from app.styleguides.models import StyleGuideVersion, StyleTerm

GUIDE = b"""# Maison Test voice

We speak of craft, never of price.

- Prefer: calfskin (not: leather, cowhide)
- Prefer: burgundy (not: dark red)
- Avoid: cheap, bargain
"""


def _upload(client: TestClient, data: bytes, name: str = "guide.md") -> dict:
    response = client.post("/api/v1/brands/maison/styleguides", files={"file": (name, data)})
    return {"status": response.status_code, **response.json()}


def test_markdown_guide_is_versioned_with_terms(
    client: TestClient, brand: Brand, store: LocalBlobStore
) -> None:
    first = _upload(client, GUIDE)
    assert first["status"] == 201
    assert first["version"] == 1
    assert first["media_type"] == "text/markdown"
    assert {"kind": "prefer", "term": "calfskin", "instead_of": ["leather", "cowhide"]} in first[
        "terms"
    ]
    assert [t["term"] for t in first["terms"] if t["kind"] == "avoid"] == ["cheap", "bargain"]
    second = _upload(client, GUIDE + b"- Avoid: trendy\n", name="guide-v2.md")
    assert second["version"] == 2
    assert client.get("/api/v1/brands/maison/styleguides/1").json()["filename"] == "guide.md"
    assert len([k for k in store.list_keys() if "/styleguides/" in k]) == 2


def test_unreadable_guide_is_refused_and_leaves_nothing(
    client: TestClient, brand: Brand, session: Session, store: LocalBlobStore
) -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    for data, name in [(png.getvalue(), "guide.md"), (b"", "empty.txt"), (b"  \n", "blank.md")]:
        response = client.post("/api/v1/brands/maison/styleguides", files={"file": (name, data)})
        assert response.status_code == 422, name
        assert response.json()["detail"]
    assert session.scalar(select(func.count()).select_from(StyleGuideVersion)) == 0
    assert store.list_keys() == []


def test_failed_request_rolls_back_the_version_and_its_blob(
    client: TestClient,
    brand: Brand,
    session: Session,
    store: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash after the guide's blob was written leaves neither its version nor its blob:
    the style-guide twin of the assets' rollback test."""
    from app.styleguides import views

    written: list[str] = []

    def crash_after_the_blob(*args: object, **kwargs: object) -> None:
        written.extend(k for k in store.list_keys() if "/styleguides/" in k)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(views, "audit", crash_after_the_blob)
    with pytest.raises(RuntimeError):
        client.post("/api/v1/brands/maison/styleguides", files={"file": ("guide.md", GUIDE)})
    assert written, "the blob was written before the request failed"
    session.commit()  # a fresh snapshot
    assert session.scalar(select(func.count()).select_from(StyleGuideVersion)) == 0
    assert store.list_keys() == []


def test_oversized_guide_is_refused(client: TestClient, brand: Brand, settings) -> None:
    data = b"x" * (settings.MAX_STYLEGUIDE_BYTES + 1)
    response = client.post("/api/v1/brands/maison/styleguides", files={"file": ("big.txt", data)})
    assert response.status_code == 422
    assert "MB" in response.json()["detail"]


def test_terms_form_saves_a_new_version(client: TestClient, brand: Brand, session: Session) -> None:
    _upload(client, GUIDE)
    page = client.get("/brands/maison/styleguide")
    assert page.status_code == 200
    assert "calfskin" in page.text and "We speak of craft" in page.text
    form = {
        "kind": ["prefer", "prefer", "avoid", "prefer", "avoid"],
        "term": ["calfskin", "burgundy", "cheap", "cognac", ""],
        "instead_of": ["leather", "dark red", "", "tan, brown", ""],
        "remove": ["1"],
    }
    response = client.post("/brands/maison/styleguide/terms", data=form, follow_redirects=False)
    assert response.status_code == 303
    session.commit()
    latest = session.scalars(
        select(StyleGuideVersion).order_by(StyleGuideVersion.version.desc())
    ).first()
    assert latest is not None and latest.version == 2 and latest.note == "terms edited"
    terms = session.scalars(
        select(StyleTerm).where(StyleTerm.version_id == latest.id).order_by(StyleTerm.position)
    ).all()
    assert [(t.kind.value, t.term, t.instead_of) for t in terms] == [
        ("prefer", "calfskin", ["leather"]),
        ("avoid", "cheap", []),
        ("prefer", "cognac", ["tan", "brown"]),
    ]
    first = client.get("/api/v1/brands/maison/styleguides/1").json()
    assert len(first["terms"]) == 4, "older versions stay as they were"


def test_terms_form_refuses_bad_rows(client: TestClient, brand: Brand, session: Session) -> None:
    _upload(client, GUIDE)
    form = {"kind": ["avoid"], "term": ["cheap"], "instead_of": ["inexpensive"]}
    response = client.post("/brands/maison/styleguide/terms", data=form)
    assert response.status_code == 422
    assert "avoided term" in response.text
    assert session.scalar(select(func.count()).select_from(StyleGuideVersion)) == 1


def test_terms_form_needs_a_guide_first(client: TestClient, brand: Brand) -> None:
    response = client.post(
        "/brands/maison/styleguide/terms",
        data={"kind": ["prefer"], "term": ["x"], "instead_of": [""]},
    )
    assert response.status_code == 422
    assert "upload a style guide" in response.text


def test_pdf_over_the_page_limit_is_refused_and_leaves_nothing(
    client: TestClient, brand: Brand, settings, session: Session, store: LocalBlobStore
) -> None:
    settings.MAX_STYLEGUIDE_PAGES = 1
    doc = FPDF()
    doc.set_font("helvetica", size=12)
    for text in ("Prefer: calfskin", "Avoid: cheap"):
        doc.add_page()
        doc.text(10, 10, text)
    response = client.post(
        "/api/v1/brands/maison/styleguides", files={"file": ("guide.pdf", bytes(doc.output()))}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "the PDF has 2 pages, over the limit of 1"
    assert session.scalar(select(func.count()).select_from(StyleGuideVersion)) == 0
    assert store.list_keys() == []
