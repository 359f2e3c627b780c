from datetime import datetime

from pydantic import BaseModel

from app.styleguides.models import StyleGuideVersion, TermKind


class TermOut(BaseModel):
    kind: TermKind
    term: str
    instead_of: list[str]


class StyleGuideOut(BaseModel):
    version: int
    filename: str
    media_type: str
    sha256: str
    note: str
    created_at: datetime
    text: str
    terms: list[TermOut]

    @classmethod
    def of(cls, guide: StyleGuideVersion) -> "StyleGuideOut":
        return cls(
            version=guide.version,
            filename=guide.filename,
            media_type=guide.media_type,
            sha256=guide.sha256,
            note=guide.note,
            created_at=guide.created_at,
            text=guide.text,
            terms=[
                TermOut(kind=t.kind, term=t.term, instead_of=list(t.instead_of))
                for t in guide.terms
            ],
        )
