"""The worker's resident models: adapters that train token rows and adapters that do not, both
served by one worker, each in batches mixed with the base, whichever came first."""

from pathlib import Path

import pytest

from app.runs.settings import TrainSettings
from worker.data import Example
from worker.generate import captions_generate
from worker.modelkit import Family
from worker.resident import BASE, Resident
from worker.train import qlora_train

from .conftest import tiny_settings

Trained = dict[bool, tuple[TrainSettings, Path]]  # answer_tokens -> settings, adapter folder


@pytest.fixture(scope="module")
def trained(
    model_dirs: dict[Family, Path],
    examples: list[Example],
    tmp_path_factory: pytest.TempPathFactory,
) -> Trained:
    adapters = {}
    for rows in (True, False):
        s = tiny_settings(max_steps=6, learning_rate=1e-2, answer_tokens=rows, lora_r=8)
        out = tmp_path_factory.mktemp(f"rows-{rows}")
        result = qlora_train(
            base=str(model_dirs["idefics3"]), revision=None, examples=examples, s=s, output_dir=out
        )
        adapters[rows] = (s, result.adapter_dir)
    return adapters


def _mixed(
    resident: Resident, base: str, s: TrainSettings, folder: Path, examples: list[Example]
) -> list[str]:
    """Captions of the examples in one batch, the adapter's and the base's rows alternating."""
    loaded, _ = resident.base(base, None, s)
    name, _ = resident.adapter(loaded, folder.parent.name, lambda: folder)
    return captions_generate(
        model=loaded.generator,
        processor=loaded.processor,
        images=[e.image for e in examples],
        instruction=s.instruction,
        max_new_tokens=8,
        adapter_names=[name, BASE] * (len(examples) // 2),
    )


@pytest.mark.parametrize("first", [True, False])
def test_adapters_with_and_without_token_rows_are_served_side_by_side(
    trained: Trained, model_dirs: dict[Family, Path], examples: list[Example], first: bool
) -> None:
    base = str(model_dirs["idefics3"])
    alone = {rows: _mixed(Resident(1, 1), base, *trained[rows], examples) for rows in trained}
    assert alone[True] != alone[False]
    resident = Resident(max_bases=2, max_adapters=4)
    for rows in (first, not first, first):
        assert _mixed(resident, base, *trained[rows], examples) == alone[rows]
    assert resident.loads == {"base": 2, "adapter": 2}
