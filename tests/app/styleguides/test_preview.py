"""A new style guide uploaded in the page shows what it changes in the terms, and replaces the
current one only once confirmed."""

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.brands.models import Brand
from app.styleguides.diff import terms_diff
from app.styleguides.glossary import GuideTerms
from app.styleguides.models import StyleGuideVersion
from tests.app.styleguides.test_api import GUIDE, _upload

NEXT = b"""# Maison Test voice

- Prefer: Calfskin (not: leather)
- Prefer: cognac (not: tan)
- Avoid: cheap, knock-off
"""


def _versions(session: Session) -> int:
    session.commit()
    return session.scalar(select(func.count()).select_from(StyleGuideVersion)) or 0


def test_the_diff_names_what_was_added_removed_and_changed() -> None:
    old = GuideTerms(
        prefer=(("calfskin", ("leather", "cowhide")), ("burgundy", ("dark red",))),
        avoid=("cheap", "bargain"),
    )
    new = GuideTerms(
        prefer=(("Calfskin", ("leather",)), ("cognac", ("tan",))), avoid=("CHEAP", "knock-off")
    )
    diff = terms_diff(old=old, new=new)
    assert diff.preferred_added == [("cognac", ("tan",))]
    assert diff.preferred_removed == [("burgundy", ("dark red",))]
    assert diff.preferred_changed == [("Calfskin", ("leather", "cowhide"), ("leather",))]
    assert (diff.banned_added, diff.banned_removed) == (["knock-off"], ["bargain"])
    assert terms_diff(old=old, new=old).empty


def test_a_new_guide_is_previewed_then_confirmed(
    client: TestClient, brand: Brand, session: Session
) -> None:
    _upload(client, GUIDE)
    preview = client.post("/brands/maison/styleguide", files={"file": ("next.md", NEXT)})
    assert preview.status_code == 200
    html = preview.text
    assert "Replace the style guide?" in html
    for row in (
        "preferred term added</td><td>cognac",
        "preferred term removed</td><td>burgundy",
        "preferred term changed</td><td>Calfskin",
        "banned word added</td><td>knock-off",
        "banned word removed</td><td>bargain",
    ):
        assert row in html
    assert _versions(session) == 1, "nothing replaced before the confirmation"

    confirmed = client.post(
        "/brands/maison/styleguide/confirm",
        data={"sha256": hashlib.sha256(NEXT).hexdigest(), "filename": "next.md"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    latest = client.get("/api/v1/brands/maison/styleguides/2").json()
    assert [t["term"] for t in latest["terms"]] == ["Calfskin", "cognac", "cheap", "knock-off"]
    assert latest["filename"] == "next.md"
    session.commit()  # a fresh snapshot
    assert session.scalar(
        select(func.count()).where(
            AuditEvent.action == "styleguide.upload", AuditEvent.target == "version 2"
        )
    )


def test_the_first_guide_is_kept_at_once(
    client: TestClient, brand: Brand, session: Session
) -> None:
    response = client.post(
        "/brands/maison/styleguide", files={"file": ("g.md", GUIDE)}, follow_redirects=False
    )
    assert response.status_code == 303 and _versions(session) == 1


def test_confirming_an_upload_that_is_not_there_is_refused(
    client: TestClient, brand: Brand, session: Session
) -> None:
    _upload(client, GUIDE)
    for sha256 in ("0" * 64, "../../etc/passwd"):
        response = client.post(
            "/brands/maison/styleguide/confirm", data={"sha256": sha256, "filename": "x.md"}
        )
        assert response.status_code == 422 and "upload the guide again" in response.text
    assert _versions(session) == 1
