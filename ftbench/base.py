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
    name: str
    version: str
    metric: str
    description: str
    kinds: tuple[str, ...]

    def load(self, split: Split) -> list[Example]: ...

    def messages(self, question: str) -> list[dict[str, str]]:
        """Chat messages that pose `question` to the model."""
        ...

    def extract(self, completion: str) -> str:
        """The answer found in a model completion ('' when none)."""
        ...

    def score(self, prediction: str, example: Example) -> float: ...

    def aggregate(self, scores: list[float]) -> float: ...


class HeldOutSplitError(PermissionError):
    """Raised when code that builds training data asks for the hidden test split."""
