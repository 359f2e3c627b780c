"""Request dependencies shared by every router (access rules live in app/auth.py)."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.assets.images import Limits
from app.config import Settings
from app.db import get_session
from app.storage import BlobStore

# scope="function": the session commits when the route returns, before the response is sent,
# so that a failed commit is the client's error answer and never a silent loss.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.store
    return store


def get_limits(settings: Annotated[Settings, Depends(get_settings)]) -> Limits:
    return Limits.of(settings)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
