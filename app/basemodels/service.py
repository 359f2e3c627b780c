"""Registered base models: any VLM that AutoProcessor and AutoModelForImageTextToText load and
whose processor has a chat template. A worker checks each one when it is registered."""

import re
from pathlib import Path

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.basemodels.models import (
    DEMO_ARCHITECTURE,
    DEMO_MODEL_SOURCE,
    BaseModelStatus,
    RegisteredModel,
)
from app.config import ROOT, Settings
from app.config import settings as installed_settings
from app.errors import Conflict, Invalid, NotFound
from app.jobs import job_send

CHECK_TASK = "atelier.base_model_check"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def basemodels_list(*, session: Session) -> list[RegisteredModel]:
    """Every registered base model, the default first."""
    return list(
        session.scalars(
            select(RegisteredModel).order_by(
                RegisteredModel.is_default.desc(), RegisteredModel.name
            )
        )
    )


def basemodel_get(*, session: Session, model_id: int) -> RegisteredModel:
    """The base model with this id, or NotFound."""
    found = session.get(RegisteredModel, model_id)
    if found is None:
        raise NotFound(f"no base model {model_id}")
    return found


def basemodel_find(*, session: Session, ref: int | str | None) -> RegisteredModel:
    """A base model by id or source; the default one when `ref` is empty. NotFound if none."""
    if ref is None or ref == "":
        return basemodel_default(session=session)
    if isinstance(ref, int) or ref.isdigit():
        return basemodel_get(session=session, model_id=int(ref))
    found = session.scalar(
        select(RegisteredModel)
        .where(RegisteredModel.source == ref)
        .order_by(RegisteredModel.is_default.desc(), RegisteredModel.id)
        .limit(1)
    )
    if found is None:
        raise NotFound(f"no base model {ref!r}")
    return found


def basemodel_default(*, session: Session) -> RegisteredModel:
    """The default base model (the demo captioner unless another is made default)."""
    found = session.scalar(select(RegisteredModel).where(RegisteredModel.is_default))
    if found is None:
        raise NotFound("no default base model is registered")
    return found


def basemodel_demo_ensure(*, session: Session) -> RegisteredModel:
    """The shipped demo captioner's row (migration 0003 adds it; this puts it back if gone)."""
    found = session.scalar(
        select(RegisteredModel).where(
            RegisteredModel.source == DEMO_MODEL_SOURCE, RegisteredModel.revision == ""
        )
    )
    if found is None:
        found = RegisteredModel(
            name="Atelier demo captioner (SmolVLM architecture)",
            source=DEMO_MODEL_SOURCE,
            revision="",
            status=BaseModelStatus.ready,
            is_default=True,
            family="idefics3",
        )
        session.add(found)
    if found.architecture is None:
        found.architecture = dict(DEMO_ARCHITECTURE)
    session.flush()
    return found


def _hub_match(hub_id: str, allowed: str) -> bool:
    """`allowed` names one model (owner/name) or, ending in "/", all of an owner's."""
    return hub_id == allowed or (allowed.endswith("/") and hub_id.startswith(allowed))


def basemodel_source_check(*, source: str, settings: Settings) -> None:
    """Refuse a local folder outside MODELS_ROOTS, or a hub id HUB_MODELS_ALLOWED leaves out."""
    folder = ROOT / source  # an absolute source stays itself
    # from_pretrained reads anything that is a folder as one, whatever it looks like.
    if HUB_ID.fullmatch(source) and ".." not in source and not folder.is_dir():
        allowed = settings.HUB_MODELS_ALLOWED
        if allowed and not any(_hub_match(source, a) for a in allowed):
            raise Invalid(f"{source} is not among the hub models this installation allows")
        return
    real = folder.resolve()  # symlinks and `..` followed: where the worker would really read
    if not any(real.is_relative_to(root.resolve()) for root in settings.MODELS_ROOTS):
        raise Invalid("that folder lies outside the models folders this installation allows")


def basemodel_register(
    *,
    session: Session,
    jobs: Celery,
    settings: Settings,
    name: str,
    source: str,
    revision: str,
    user: User,
) -> RegisteredModel:
    """Register a hub id or local path; a worker then checks that it loads."""
    source, revision = source.strip(), revision.strip()
    if not source or len(source) > 500 or not source.isprintable():
        raise Invalid("name a hub id (owner/name) or a local folder")
    if not revision.isprintable():
        raise Invalid("a revision is a branch, a tag or a commit, in printable characters")
    basemodel_source_check(source=source, settings=settings)
    exists = session.scalar(
        select(RegisteredModel.id).where(
            RegisteredModel.source == source, RegisteredModel.revision == revision
        )
    )
    if exists is not None:
        raise Conflict(f"{source} at that revision is registered already")
    model = RegisteredModel(
        name=(name.strip() or source)[:200],
        source=source,
        revision=revision,
        status=BaseModelStatus.checking,
        registered_by_id=user.id,
    )
    session.add(model)
    session.flush()
    job_send(session=session, client=jobs, name=CHECK_TASK, args=[model.id])
    return model


def basemodel_location(model: RegisteredModel, settings: Settings = installed_settings) -> str:
    """What `from_pretrained` gets: a local folder (relative ones are the project's) or a hub id.

    The source is checked again here, where it is read: a link may have changed since."""
    basemodel_source_check(source=model.source, settings=settings)
    path = Path(model.source)
    if not path.is_absolute() and (ROOT / path).is_dir():
        return str(ROOT / path)
    return model.source
