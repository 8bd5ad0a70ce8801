"""`sst2`: binary sentiment of movie-review sentences (GLUE SST-2); accuracy.

Source: `stanfordnlp/sst2` on the Hugging Face Hub (fields idx, sentence, label with
0 = negative, 1 = positive). GLUE hides the labels of its test split (they are -1), so
following common practice the official validation split (872 sentences) is our test
split, and dev is carved from the official train split (67,349 rows) with a fixed seed.
Train rows whose sentence also appears in the test split are dropped. The model answers
with the word "positive" or "negative"; the last such word in a completion counts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, carve, drop_held_out, fixture_path, hub_rows, read_rows

LABELS = ("negative", "positive")
HUB_ID = "stanfordnlp/sst2"
_WORD = re.compile(r"\b(positive|negative)\b", re.IGNORECASE)


def to_example(row: dict[str, Any], split: str) -> Example:
    """One source row (idx, sentence, label) as an Example."""
    label = int(row["label"])
    if label not in (0, 1):
        raise ValueError(f"sst2: row {row['idx']} of {split} has no gold label ({label})")
    return Example(id=f"{split}-{row['idx']}", question=str(row["sentence"]).strip(), answer=LABELS[label])


@dataclass
class Sst2Task(TaskTexts):
    """Splits: train = official train minus the carved dev, dev = `dev_size` rows of official
    train (at most a quarter of it; seed `split_seed`), test = official validation."""

    name: str = "sst2"
    version: str = "1.0"
    metric: str = "accuracy"
    source: str = "hub"
    source_url: str = "https://huggingface.co/datasets/stanfordnlp/sst2"
    license: str = "unknown (dataset card); SST is distributed by Stanford NLP for research"
    kinds: tuple[str, ...] = ()
    dev_size: int = 1_000
    split_seed: int = 2_024

    def _rows(self, source_split: str) -> list[dict[str, Any]]:
        if self.source == "fixture":
            return read_rows(fixture_path(__file__, f"{source_split}.jsonl"))
        return hub_rows(self.name, HUB_ID, source_split)

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        test = [to_example(r, "validation") for r in self._rows("validation")]
        if split is Split.TEST:
            return test
        pool = [to_example(r, "train") for r in self._rows("train")]
        train, dev = carve(pool, min(0.25, self.dev_size / max(1, len(pool))), self.split_seed)
        if split is Split.DEV:
            return dev
        return drop_held_out(train, dev, test)

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": (
            "Classify the sentiment of this movie-review sentence. "
            "Answer with one word: positive or negative.\n"
            f"Sentence: {question}")}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return example.answer

    def extract(self, completion: str) -> str:
        """The last 'positive' or 'negative' in the completion, lower-cased; '' when neither occurs."""
        found = _WORD.findall(completion)
        return found[-1].lower() if found else ""

    def score(self, prediction: str, example: Example) -> float:
        return float(prediction.strip().lower() == example.answer)

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
