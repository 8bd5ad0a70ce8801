"""`lawbench`: LawBench, 20 Chinese legal tasks; the score is the mean of the sub-task scores.

Source: open-compass/LawBench `data/zero_shot/<id>.json` (ids 1-1, 1-2, 2-1..2-10, 3-1..3-8),
each a JSON list of {"instruction", "question", "answer"}, 500 rows per file; read from
$FTBENCH_DATA/lawbench/zero_shot/<id>.json (`source="hub"`). The prompt is
`instruction + "\\n" + question`, as in LawBench's released predictions. Each sub-task is a
`kind` and keeps its own rule on the raw reply (see `metrics.py` for the rules and where they
differ from the official scripts); `aggregate` averages the sub-task corpus scores of the
kinds present, as LawBench's overall score averages its 20 task scores.

Rows dropped before splitting: those the official scripts skip (2-2 focus "赔偿", 3-4/3-5
death or life sentences), rows with an empty reference, and rows whose own reference does not
score 1.0 under the sub-task's rule (data imperfections), so a perfect model scores 1.

Splits: LawBench is test-only. Per sub-task, with a fixed seed (9_000 + the sub-task's
position in `KINDS`): test = 30% of the kept rows, dev = 10% of the rest, train = the rest
(about 150 / 35 / 315 of 500).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.lawbench import metrics
from ftbench.source import TaskTexts, carve, fixture_path, local_file, read_rows

KINDS = ("1-1", "1-2", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "2-10",
         "3-1", "3-2", "3-3", "3-4", "3-5", "3-6", "3-7", "3-8")
DATA_URL = "https://github.com/open-compass/LawBench/tree/main/data/zero_shot"
TEST_FRACTION, DEV_FRACTION, SEED = 0.3, 0.1, 9_000


def proofread_source(prompt: str, question: str) -> str:
    """2-1: the sentence to correct, the line after "句子：" as the official script finds it."""
    start = prompt.find("句子：\n")
    line = prompt[start + 4:].split("\n")[0] if start >= 0 else question.split("\n")[0]
    return re.sub(r"\n|\t", "", line)


def to_example(kind: str, index: int, row: dict[str, Any]) -> Example:
    """One LawBench row of sub-task `kind` as an Example (the prompt is instruction + newline + question)."""
    prompt = f"{row['instruction']}\n{row['question']}"
    meta = {"source": proofread_source(prompt, row["question"])} if kind == "2-1" else {}
    return Example(id=f"lawbench-{kind}-{index:04d}", question=prompt, answer=str(row["answer"]).strip(),
                   kind=kind, meta=meta)


def gold_reply(example: Example) -> str:
    """The reply that scores full marks: the reference, minus prefixes the official scorer strips from
    it, and for 2-6 one "类型:值" per line, which the official entity reader parses back exactly."""
    answer = example.answer
    if example.kind == "1-1":
        return answer.replace("答案:", "")
    if example.kind == "2-5":
        return answer.replace("回答:", "")
    if example.kind == "2-6":
        return "\n".join(f"{t}:{''.join(v.split())}" for t, v in metrics.entities(answer).items()) + "。"
    return answer


def _official_skip(example: Example) -> bool:
    answer = example.answer
    if example.kind == "2-2":
        return answer[7:-1] == "赔偿"
    if example.kind in ("3-4", "3-5"):
        return "死刑" in answer or "无期" in answer
    return False


@dataclass
class LawBenchTask(TaskTexts):
    """`kinds` picks the sub-tasks to load (all 20 by default); `source="fixture"` reads the bundled sample."""

    name: str = "lawbench"
    version: str = "1.0"
    metric: str = "lawbench_mean_task_score"
    source: str = "hub"
    source_url: str = DATA_URL
    license: str = "mixed: each task follows its original dataset's license (see catalog)"
    kinds: tuple[str, ...] = KINDS
    _cache: dict[str, list[Example]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"lawbench: unknown sub-tasks {sorted(unknown)}; expected some of {KINDS}")

    def _path(self, kind: str) -> Path:
        if self.source == "fixture":
            return fixture_path(__file__, f"zero_shot/{kind}.json")
        return local_file(self.name, f"zero_shot/{kind}.json", DATA_URL)

    def usable(self, example: Example) -> bool:
        """Kept for scoring: not skipped officially, a non-empty reference that scores 1.0 against itself."""
        if _official_skip(example) or not gold_reply(example).strip():
            return False
        if example.kind in metrics.ROUGE_TASKS:      # a non-empty text always matches itself (skip the O(n^2) LCS)
            return True
        try:
            return self.score(self.extract(gold_reply(example)), example) == 1.0
        except (IndexError, ValueError):
            return False

    def _kept(self, kind: str) -> list[Example]:
        if kind not in self._cache:
            rows = read_rows(self._path(kind))
            self._cache[kind] = [e for e in (to_example(kind, i, row) for i, row in enumerate(rows)) if self.usable(e)]
        return self._cache[kind]

    def load(self, split: Split) -> list[Example]:
        chosen: list[Example] = []
        for kind in self.kinds:
            kept = self._kept(kind)
            seed = SEED + KINDS.index(kind)
            rest, test = carve(kept, TEST_FRACTION, seed)
            train, dev = carve(rest, DEV_FRACTION, seed + 100)
            chosen += {Split.TRAIN: train, Split.DEV: dev, Split.TEST: test}[Split(split)]
        return chosen

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": question}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return gold_reply(example)

    def extract(self, completion: str) -> str:
        """The reply as LawBench scores it: raw text, minus any <think>...</think> block, trimmed."""
        if "</think>" in completion:
            completion = completion.rsplit("</think>", 1)[1]
        return completion.strip()

    def score(self, prediction: str, example: Example) -> float:
        return metrics.sample_score(example.kind, prediction, example.answer, example.meta.get("source", ""))

    def task_scores(self, predictions: list[str], examples: list[Example]) -> dict[str, float]:
        """Each sub-task's official corpus score over the examples of that kind."""
        grouped: dict[str, tuple[list[str], list[str], list[str]]] = {}
        for prediction, example in zip(predictions, examples, strict=True):
            preds, refs, sources = grouped.setdefault(example.kind, ([], [], []))
            preds.append(prediction)
            refs.append(example.answer)
            sources.append(example.meta.get("source", ""))
        return {kind: metrics.corpus_score(kind, *lists) for kind, lists in grouped.items()}

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """LawBench's overall score: the mean over the sub-tasks present of their corpus scores."""
        scores = self.task_scores(predictions, examples)
        return sum(scores.values()) / len(scores) if scores else 0.0
