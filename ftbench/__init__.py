"""FT-Bench: the tasks trex is judged on. A plain registry with lazy imports."""
from __future__ import annotations

import importlib
from typing import Any

from ftbench.base import Example, Split, Task, HeldOutSplitError

# name -> "module:Class"; modules import only when their task is asked for.
_REGISTRY: dict[str, str] = {
    "math": "ftbench.math.task:MathTask",
}


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


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


__all__ = ["Example", "Split", "Task", "HeldOutSplitError", "get_task", "list_tasks", "load_for_training"]
