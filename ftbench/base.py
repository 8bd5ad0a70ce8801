"""The task contract every FT-Bench task implements (pure: no Ray, TRL or W&B)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Split(StrEnum):
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"


@dataclass(frozen=True)
class Example:
    """One item: what the model is asked, the gold answer, and a worked solution if known."""

    id: str
    question: str
    answer: str
    solution: str = ""
    kind: str = ""
    meta: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """One benchmark task. `score` is per sample (for diagnosis and rewards); `aggregate` is
    the task's official corpus-level metric, which need not be a mean of per-sample scores
    (macro-F1, ROUGE, LawBench's hybrid score)."""

    name: str
    version: str                       # recorded with every score
    metric: str
    description: str                   # exactly what the Researcher is told
    catalog: str                       # known data sources, for offline research
    kinds: tuple[str, ...]             # sub-kinds of examples ('' kind allowed); () when none
    source_url: str                    # where the real data comes from
    license: str                       # the real data's license

    def load(self, split: Split) -> list[Example]: ...

    def messages(self, question: str) -> list[dict[str, str]]:
        """Chat messages that pose `question` to the model."""
        ...

    def target(self, example: Example, reasoning: bool = False) -> str:
        """The completion the model is trained to produce (with a worked solution if `reasoning`)."""
        ...

    def extract(self, completion: str) -> str:
        """The answer found in a model completion ('' when none)."""
        ...

    def score(self, prediction: str, example: Example) -> float: ...

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """The official metric over a whole split, in [0, 1]; 0.0 for an empty split."""
        ...


class SourceUnavailable(RuntimeError):
    """The task's real data cannot be reached (offline, missing files); the message says how to get it."""


class HeldOutSplitError(PermissionError):
    """Raised when code that builds training data asks for the hidden test split."""
