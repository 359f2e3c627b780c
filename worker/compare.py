"""A run measured: its validation images captioned three ways from one loaded base — zero-shot,
prompted with the style guide's terms, and adapted — scored against the references."""

import logging
import shutil
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy import select

from app.assets.images import image_to_rgb
from app.assets.models import Tag
from app.basemodels.service import basemodel_location
from app.config import settings
from app.datasets.models import Split
from app.datasets.service import dataset_originals
from app.db import utcnow
from app.evaluations.models import ITEM_METRICS, Evaluation, EvaluationItem, EvaluationStatus
from app.runs.answers import answer_parse
from app.runs.models import Run
from app.runs.settings import DEFAULT_INSTRUCTION, TrainSettings, train_settings_of
from app.styleguides.glossary import GuideTerms
from app.styleguides.service import styleguide_terms
from worker.context import file_sha256, folder_fetch, sessions, store

if TYPE_CHECKING:
    from worker.evaluate import ItemScores

log = logging.getLogger(__name__)


def evaluation_execute(evaluation_id: int, adapter_dir: Path | None = None) -> None:
    """Caption, score and record; a failure is recorded on the evaluation, not raised.
    `adapter_dir` is the adapter at hand, when the worker has just trained it."""
    workdir = settings.WORK_DIR / f"evaluation-{evaluation_id}-{uuid.uuid4().hex[:6]}"
    try:
        with sessions().begin() as session:
            evaluation = session.get_one(Evaluation, evaluation_id)
            evaluation.status = EvaluationStatus.running
            run_id = evaluation.run_id
        _evaluate(evaluation_id, run_id, adapter_dir or workdir / "adapter")
    except Exception as exc:  # shown on the results page
        log.exception("evaluation %s failed", evaluation_id)
        with sessions().begin() as session:
            evaluation = session.get_one(Evaluation, evaluation_id)
            evaluation.status, evaluation.finished_at = EvaluationStatus.failed, utcnow()
            evaluation.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"[:5000]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _evaluate(evaluation_id: int, run_id: int, adapter_dir: Path) -> None:
    from worker.data import image_cap
    from worker.generate import captions_generate
    from worker.train import adapter_load, base_load

    inputs = _inputs(run_id)
    if not adapter_dir.exists():
        folder_fetch(store(), inputs.adapter_key, adapter_dir)
    model, processor = base_load(
        inputs.base, inputs.revision, replace(inputs.settings, gradient_checkpointing=False)
    )
    tuned = adapter_load(model, adapter_dir)  # one base in memory: the adapter goes on top

    # Downscaled once for the three captionings, as in training.
    images = [image_cap(image, inputs.settings.max_image_pixels) for image in inputs.images]

    def caption(instruction: str) -> list[str]:
        return captions_generate(
            model=tuned,
            processor=processor,
            images=images,
            instruction=instruction,
            max_image_pixels=inputs.settings.max_image_pixels,
            image_size_cap=inputs.settings.image_size_cap,
        )

    with tuned.disable_adapter():
        base = caption(DEFAULT_INSTRUCTION)
        prompted = caption(inputs.terms.instruction(DEFAULT_INSTRUCTION))
    # An adapter that answers tags is scored on the tags it answered, and on its caption.
    answers = [answer_parse(inputs.settings.task, a) for a in caption(inputs.instruction)]
    adapted = [a.caption if a.parsed else a.raw for a in answers]
    answered = [set(a.tags) for a in answers] if inputs.settings.task != "caption" else None
    _record(
        evaluation_id,
        inputs,
        {"base": base, "prompted": prompted, "adapted": adapted},
        adapter_sha256=file_sha256(adapter_dir / "adapter_model.safetensors"),
        answered_tags={"adapted": answered} if answered is not None else {},
    )


@dataclass(frozen=True)
class EvalInputs:
    """What an evaluation reads from the database and the store, once."""

    base: str
    revision: str | None
    settings: TrainSettings
    adapter_key: str
    asset_ids: list[int]
    images: list[Image.Image]
    references: list[str]
    tags: list[list[str]]
    vocabulary: list[str]
    terms: GuideTerms
    instruction: str  # what the adapter was trained with


def _inputs(run_id: int) -> EvalInputs:
    with sessions()() as session:
        run = session.get_one(Run, run_id)
        brand, model = run.brand, run.base_model
        items = dataset_originals(
            session=session, dataset_id=run.dataset_id, split=Split.validation
        )
        vocabulary = list(session.scalars(select(Tag.name).where(Tag.brand_id == brand.id)))
        return EvalInputs(
            base=basemodel_location(model),
            revision=model.revision or None,
            settings=train_settings_of(run),
            adapter_key=run.adapter_key,
            asset_ids=[item.asset_id for item, _ in items],
            images=[image_to_rgb(store().get(key)) for _, key in items],
            references=[item.caption for item, _ in items],
            tags=[list(item.tags) for item, _ in items],
            vocabulary=vocabulary,
            terms=styleguide_terms(session=session, brand=brand),
            instruction=run.instruction,
        )


def _record(
    evaluation_id: int,
    inputs: EvalInputs,
    outputs: dict[str, list[str]],
    adapter_sha256: str,
    answered_tags: dict[str, list[set[str]]],
) -> None:
    from worker.evaluate import attributes_lost, item_gain, summarise

    gold = [set(t) for t in inputs.tags]
    scored = {
        name: summarise(
            captions,
            inputs.references,
            gold,
            inputs.vocabulary,
            inputs.terms,
            answered_tags.get(name),
        )
        for name, captions in outputs.items()
    }
    per_item = {name: items for name, (_, items) in scored.items()}
    lost = {  # per system, per image: what it lost of what the base named right
        name: [
            attributes_lost(set(b.tags), set(s.tags), g)
            for b, s, g in zip(per_item["base"], items, gold, strict=True)
        ]
        for name, items in per_item.items()
    }
    changed = [a != b for a, b in zip(outputs["adapted"], outputs["base"], strict=True)]
    with sessions().begin() as session:
        evaluation = session.get_one(Evaluation, evaluation_id)
        evaluation.summary = {
            name: {**asdict(summary), "lost_per_100": _per_100(lost[name])}
            for name, (summary, _) in scored.items()
        }
        evaluation.deltas = _deltas(outputs, inputs.references, gold, per_item)
        evaluation.adapter_sha256 = adapter_sha256
        evaluation.changed_share = sum(changed) / len(changed) if changed else 0.0
        evaluation.adapter_applied = any(changed)
        for i, asset_id in enumerate(inputs.asset_ids):
            scores = {
                name: {**asdict(per_item[name][i]), "lost": lost[name][i]} for name in outputs
            }
            chrf_delta = scores["adapted"]["chrf"] - scores["base"]["chrf"]
            session.add(
                EvaluationItem(
                    evaluation_id=evaluation_id,
                    asset_id=asset_id,
                    reference=inputs.references[i],
                    tags=inputs.tags[i],
                    base=outputs["base"][i],
                    prompted=outputs["prompted"][i],
                    adapted=outputs["adapted"][i],
                    scores=scores,
                    gain=item_gain(chrf_delta, lost["adapted"][i]),
                )
            )
        evaluation.status, evaluation.finished_at = EvaluationStatus.succeeded, utcnow()


def _deltas(
    outputs: dict[str, list[str]],
    refs: list[str],
    gold: list[set[str]],
    per_item: "dict[str, list[ItemScores]]",
) -> dict[str, dict[str, float]]:
    """Adapted minus base and minus prompted for each summary metric, with paired 95% bootstrap
    intervals: corpus metrics are recomputed on every resample, as the summary computes them."""
    from worker.evaluate import bleu4, bootstrap, chrf, tag_scores

    def value(metric: str, system: str, idx: Sequence[int]) -> float:
        hyps, items = outputs[system], per_item[system]
        if metric in ("bleu4", "chrf"):
            corpus = bleu4 if metric == "bleu4" else chrf
            return corpus([hyps[i] for i in idx], [refs[i] for i in idx])
        if metric == "tag_f1":
            return tag_scores([set(items[i].tags) for i in idx], [gold[i] for i in idx]).f1
        return fmean(getattr(items[i], metric) for i in idx)

    # Both comparisons resample the same indices (a seeded bootstrap): score adapted once.
    adapted: dict[tuple[str, tuple[int, ...]], float] = {}

    def adapted_value(metric: str, idx: Sequence[int]) -> float:
        key = (metric, tuple(idx))
        if key not in adapted:
            adapted[key] = value(metric, "adapted", idx)
        return adapted[key]

    out = {}
    for other in ("base", "prompted"):
        for metric in ITEM_METRICS:

            def delta(idx: Sequence[int], m: str = metric, o: str = other) -> float:
                return adapted_value(m, idx) - value(m, o, idx)

            out[f"{metric}:{other}"] = asdict(bootstrap(delta, len(refs), n=300))
    return out


def _per_100(lost: list[list[str]]) -> float:
    """Attributes lost per 100 images."""
    return 100 * sum(len(one) for one in lost) / len(lost) if lost else 0.0
