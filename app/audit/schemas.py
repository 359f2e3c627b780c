from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None
