"""The base of every API answer read from database rows."""

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    """An answer built from a row's attributes: `Schema.model_validate(row)`."""

    model_config = ConfigDict(from_attributes=True)
