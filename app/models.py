"""Every table, imported in one place so that metadata (and Alembic) sees them all."""

from app.accounts.models import (
    ApiToken,
    Invitation,
    LoginSession,
    LoginThrottle,
    Membership,
    Role,
    User,
)
from app.assets.models import Asset, AssetStatus, Tag, asset_tags
from app.audit.models import AuditEvent
from app.autotag.models import AutotagJob, Suggestion, SuggestionStatus, Try
from app.basemodels.models import BaseModelStatus, RegisteredModel
from app.brands.models import Brand
from app.datasets.models import DatasetItem, DatasetVersion, Split
from app.db import Base
from app.evaluations.models import Evaluation, EvaluationItem, EvaluationStatus, Rating, ResultsView
from app.exports.models import ExportFormat, ExportJob
from app.imports.models import ImportFile, ImportJob, Outcome
from app.runs.models import Run, RunStatus
from app.styleguides.models import StyleGuideVersion, StyleTerm, TermKind

__all__ = [
    "ApiToken",
    "Asset",
    "AssetStatus",
    "AuditEvent",
    "AutotagJob",
    "Base",
    "BaseModelStatus",
    "Brand",
    "DatasetItem",
    "DatasetVersion",
    "Evaluation",
    "EvaluationItem",
    "EvaluationStatus",
    "ExportFormat",
    "ExportJob",
    "ImportFile",
    "ImportJob",
    "Invitation",
    "LoginSession",
    "LoginThrottle",
    "Membership",
    "Outcome",
    "Rating",
    "RegisteredModel",
    "ResultsView",
    "Role",
    "Run",
    "RunStatus",
    "Split",
    "StyleGuideVersion",
    "StyleTerm",
    "Suggestion",
    "SuggestionStatus",
    "Tag",
    "TermKind",
    "Try",
    "User",
    "asset_tags",
]
