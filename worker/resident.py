"""The models a worker keeps loaded between tasks: base models in 4-bit, and adapters on top
of them by checksum, so that switching adapters never loads the base again.

At most `WORKER_MAX_BASES` bases and `WORKER_MAX_ADAPTERS` adapters per base stay loaded; the
one used least recently goes first. Every adapter of a base is a named PEFT adapter of one
PeftModel, so that a batch may mix them (`adapter_names`, one per row; "__base__" for none).
Adapters that train token rows (`answer_tokens`) get a PeftModel, and so a copy of the base,
of their own: PEFT (0.21) neither loads an adapter without token rows beside one with them nor
mixes the two in a batch.
"""

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor, ProcessorMixin

from app.config import settings
from app.runs.settings import TrainSettings
from worker.config import compute_dtype, quantization_config

log = logging.getLogger(__name__)
BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch


@dataclass
class Loaded:
    """A base model and the adapters loaded on it, most recently used last."""

    model: PeftModel | None  # None until the first adapter arrives
    base: torch.nn.Module
    processor: ProcessorMixin
    adapters: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def generator(self) -> torch.nn.Module:
        """What generates: the PeftModel once an adapter is loaded, the bare base before."""
        return self.model if self.model is not None else self.base


BaseKey = tuple[str, str | None, str, bool, str, bool]


class Resident:
    """A worker's loaded models. One lock: a worker runs one task at a time anyway."""

    def __init__(self, max_bases: int, max_adapters: int) -> None:
        self.max_bases, self.max_adapters = max_bases, max_adapters
        self.bases: OrderedDict[BaseKey, Loaded] = OrderedDict()
        self.loads = {"base": 0, "adapter": 0}  # how often each was loaded, for the tests
        self._lock = threading.Lock()

    def base(self, source: str, revision: str | None, s: TrainSettings) -> tuple[Loaded, bool]:
        """The base model, loaded in 4-bit if it is not resident; and whether it was loaded."""
        key = (source, revision, s.quant_type, s.double_quant, s.compute_dtype, s.answer_tokens)
        with self._lock:
            if key in self.bases:
                self.bases.move_to_end(key)
                return self.bases[key], False
            while len(self.bases) >= self.max_bases:
                self.bases.popitem(last=False)
            self.bases[key] = _load_base(source, revision, s)
            self.loads["base"] += 1
            return self.bases[key], True

    def adapter(self, loaded: Loaded, sha256: str, fetch: Callable[[], Path]) -> tuple[str, bool]:
        """The name of the adapter with this checksum on `loaded`, fetched and loaded if it is
        not resident; and whether it was loaded."""
        name = f"a{sha256[:16]}"
        with self._lock:
            if name in loaded.adapters:
                loaded.adapters.move_to_end(name)
                return name, False
            folder = fetch()
            if loaded.model is None:
                loaded.model = PeftModel.from_pretrained(loaded.base, folder, adapter_name=name)
            else:
                loaded.model.load_adapter(folder, adapter_name=name)
            loaded.model.eval()
            loaded.adapters[name] = None
            while len(loaded.adapters) > self.max_adapters:
                oldest, _ = loaded.adapters.popitem(last=False)
                loaded.model.delete_adapter(oldest)
            self.loads["adapter"] += 1
            return name, True

    def clear(self) -> None:
        """Unload everything (before training, which needs the memory)."""
        with self._lock:
            self.bases.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _load_base(source: str, revision: str | None, s: TrainSettings) -> Loaded:
    log.info("loading base model %s (revision %s) in 4-bit", source, revision or "default")
    inference = replace(s, gradient_checkpointing=False)
    base = AutoModelForImageTextToText.from_pretrained(
        source,
        revision=revision,
        quantization_config=quantization_config(inference),
        dtype=compute_dtype(inference),
        use_safetensors=True,
    )
    processor = AutoProcessor.from_pretrained(source, revision=revision)
    return Loaded(model=None, base=base.eval(), processor=processor)


RESIDENT = Resident(settings.WORKER_MAX_BASES, settings.WORKER_MAX_ADAPTERS)
