"""`econlogicqa`: put four economic or business events (A-D) into their logical order; accuracy.

Source: `yinzhu-quan/econ_logic_qa` on the Hugging Face Hub (Quan & Liu, 2024), CSV
columns Question, A, B, C, D, Answer, with gold orders written like "C, A, B, D". The
source's own train / val / test splits are used as train / dev / test (650 rows in all);
train rows whose question text also appears in dev or test are dropped. A prediction
scores 1 only when the whole sequence matches (exact sequence match, as in the paper).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, drop_held_out, fixture_path, hub_rows, read_rows

HUB_ID = "yinzhu-quan/econ_logic_qa"
LETTERS = "ABCD"
SOURCE_SPLITS = {Split.TRAIN: "train", Split.DEV: "val", Split.TEST: "test"}
_SEP = r"\s*(?:,|;|->|→|=>|>|\s)\s*"
_SEQUENCE = re.compile(rf"\b([A-D]){_SEP}([A-D]){_SEP}([A-D]){_SEP}([A-D])\b|\b([A-D]{{4}})\b")


def normalize_order(letters: str) -> str:
    """'C,A, B ,D' or 'CABD' -> 'C, A, B, D'; '' unless it is a permutation of A-D."""
    found = [c for c in letters.upper() if c in LETTERS]
    return ", ".join(found) if sorted(found) == list(LETTERS) and len(found) == 4 else ""


def to_example(row: dict[str, Any], split: str, index: int) -> Example:
    """One CSV row as an Example: the scenario plus the four lettered events."""
    events = "\n".join(f"{letter}. {str(row[letter]).strip()}" for letter in LETTERS)
    answer = normalize_order(str(row["Answer"]))
    if not answer:
        raise ValueError(f"econlogicqa: {split} row {index} has a malformed answer {row['Answer']!r}")
    return Example(id=f"{split}-{index:04d}", question=f"{str(row['Question']).strip()}\n{events}", answer=answer)


@dataclass
class EconLogicQaTask(TaskTexts):
    name: str = "econlogicqa"
    version: str = "1.0"
    metric: str = "accuracy"
    source: str = "hub"
    source_url: str = "https://huggingface.co/datasets/yinzhu-quan/econ_logic_qa"
    license: str = "CC BY-NC-SA 4.0"
    kinds: tuple[str, ...] = ()

    def _split(self, split: Split) -> list[Example]:
        name = SOURCE_SPLITS[split]
        rows = (read_rows(fixture_path(__file__, f"{name}.csv")) if self.source == "fixture"
                else hub_rows(self.name, HUB_ID, name))
        return [to_example(row, name, i) for i, row in enumerate(rows)]

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        examples = self._split(split)
        if split is not Split.TRAIN:
            return examples
        return drop_held_out(examples, self._split(Split.DEV), self._split(Split.TEST))

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": (
            "Put the four events below into the order in which they would logically occur. "
            "End your reply with a line of the form \"Answer: X, X, X, X\" using the letters A-D.\n\n"
            f"{question}")}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return f"Answer: {example.answer}"

    def extract(self, completion: str) -> str:
        """The last ordering of all four letters A-D in the completion ('C, A, B, D' form); '' if none."""
        for match in reversed(list(_SEQUENCE.finditer(completion))):
            order = normalize_order("".join(g for g in match.groups() if g))
            if order:
                return order
        return ""

    def score(self, prediction: str, example: Example) -> float:
        return float(bool(prediction) and normalize_order(prediction) == example.answer)

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
