"""Registered base models: any VLM that AutoProcessor and AutoModelForImageTextToText load and
whose processor has a chat template. A worker checks each one when it is registered."""

from pathlib import Path

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.basemodels.models import DEMO_MODEL_SOURCE, BaseModelStatus, RegisteredModel
from app.config import ROOT
from app.errors import Conflict, Invalid, NotFound
from app.jobs import job_send

CHECK_TASK = "atelier.base_model_check"


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
        session.flush()
    return found


def basemodel_register(
    *, session: Session, jobs: Celery, name: str, source: str, revision: str, user: User
) -> RegisteredModel:
    """Register a hub id or local path; a worker then checks that it loads."""
    source, revision = source.strip(), revision.strip()
    if not source or len(source) > 500 or "\n" in source:
        raise Invalid("name a hub id (owner/name) or a local folder")
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


def basemodel_location(model: RegisteredModel) -> str:
    """What `from_pretrained` gets: a local folder (relative ones are the project's) or a hub id."""
    path = Path(model.source)
    if not path.is_absolute() and (ROOT / path).is_dir():
        return str(ROOT / path)
    return model.source
