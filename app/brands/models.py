from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamped


class Brand(Timestamped, Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
