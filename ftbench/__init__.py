"""FT-Bench: the tasks trex is judged on. A plain registry with lazy imports."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
from typing import Any

from ftbench.base import Example, HeldOutSplitError, SourceUnavailable, Split, Task

# name -> "module:Class"; modules import only when their task is asked for (RDKit and the
# ROUGE scorer load with the task that needs them).
_REGISTRY: dict[str, str] = {
    "math": "ftbench.math.task:MathTask",
    "aci_bench": "ftbench.aci_bench.task:AciBenchTask",
    "tomg_bench": "ftbench.tomg_bench.task:TomgBenchTask",
    "omebench": "ftbench.omebench.task:OMeBenchTask",
    "hoc": "ftbench.hoc.task:HocTask",
    "sst2": "ftbench.sst2.task:Sst2Task",
    "cs_bench": "ftbench.cs_bench.task:CsBenchTask",
    "openfindata": "ftbench.openfindata.task:OpenFinDataTask",
    "econlogicqa": "ftbench.econlogicqa.task:EconLogicQaTask",
    "gta": "ftbench.gta.task:GtaTask",
    "lawbench": "ftbench.lawbench.task:LawBenchTask",
    "custom": "ftbench.custom.task:CustomTask",
}

# TREX's best score per task in the paper (Researcher: Gemini 3 Pro), on the task's 0-100 scale.
PAPER_TREX_SCORES: dict[str, float] = {
    "aci_bench": 50.2, "tomg_bench": 68.1, "omebench": 48.4, "hoc": 89.7, "sst2": 97.2, "cs_bench": 58.1,
    "openfindata": 69.9, "econlogicqa": 45.4, "gta": 65.2, "lawbench": 42.1,
}


def list_tasks(available_only: bool = True) -> list[str]:
    """Registered task names; with `available_only`, those whose module is present."""
    names = sorted(_REGISTRY)
    if not available_only:
        return names
    return [n for n in names if importlib.util.find_spec(_REGISTRY[n].split(":")[0].rsplit(".", 1)[0]) is not None]


def get_task(name: str, **options: Any) -> Task:
    """The task called `name`, built with `options` (e.g. dev_size=50)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown task {name!r}; available: {', '.join(list_tasks())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)


def load_for_training(task: Task, split: Split | str = Split.TRAIN) -> list[Example]:
    """The only door the data operators use: the train split, never dev or test."""
    if Split(split) is not Split.TRAIN:
        raise HeldOutSplitError(f"training data may only come from the train split of {task.name!r}, "
                             f"not {split!r}")
    return task.load(Split.TRAIN)


def word_ngrams(text: str, n: int) -> set[int]:
    """Hashes of the lower-cased word n-grams of `text` (a text shorter than n gives one n-gram)."""
    words = text.lower().split()
    grams = [words[i:i + n] for i in range(max(1, len(words) - n + 1))]
    return {int.from_bytes(hashlib.blake2b(" ".join(g).encode(), digest_size=8).digest(), "big")
            for g in grams if g}


def heldout_ngrams(task: Task, n: int) -> frozenset[int]:
    """Hashed n-grams of the dev and test questions, for decontamination only: the data
    operators get hashes, never the held-out text."""
    grams: set[int] = set()
    for split in (Split.DEV, Split.TEST):
        for example in task.load(split):
            grams |= word_ngrams(example.question, n)
    return frozenset(grams)


__all__ = ["Example", "HeldOutSplitError", "SourceUnavailable", "Split", "Task", "get_task", "heldout_ngrams",
           "list_tasks", "load_for_training", "word_ngrams"]
