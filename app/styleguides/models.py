import enum

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamped


class TermKind(enum.StrEnum):
    prefer = "prefer"
    avoid = "avoid"


class StyleGuideVersion(Timestamped, Base):
    """One immutable version of a brand's style guide: an upload, or an edit of its terms."""

    __tablename__ = "styleguide_versions"
    __table_args__ = (UniqueConstraint("brand_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(200), default="")

    terms: Mapped[list["StyleTerm"]] = relationship(
        lazy="raise", order_by="StyleTerm.position", cascade="all, delete-orphan"
    )

    @property
    def source_key(self) -> str:
        return f"brands/{self.brand_id}/styleguides/{self.sha256}"


class StyleTerm(Base):
    """`Prefer: calfskin (not: leather)` is a preferred term with its alternatives;
    `Avoid: cheap` is a banned term."""

    __tablename__ = "style_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("styleguide_versions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[TermKind] = mapped_column(
        Enum(TermKind, native_enum=False, length=16, validate_strings=True)
    )
    term: Mapped[str] = mapped_column(String(200))
    instead_of: Mapped[list[str]] = mapped_column(JSON, default=list)
