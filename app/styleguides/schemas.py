from datetime import datetime

from app.schemas import Out
from app.styleguides.models import TermKind


class TermOut(Out):
    kind: TermKind
    term: str
    instead_of: list[str]


class StyleGuideOut(Out):
    version: int
    filename: str
    media_type: str
    sha256: str
    note: str
    created_at: datetime
    text: str
    terms: list[TermOut]
