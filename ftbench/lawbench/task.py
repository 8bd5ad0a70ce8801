"""`lawbench`: LawBench, 20 Chinese legal tasks; the score is the mean of the sub-task scores.

Source: open-compass/LawBench `data/zero_shot/<id>.json` (ids 1-1, 1-2, 2-1..2-10, 3-1..3-8),
each a JSON list of {"instruction", "question", "answer"}, 500 rows per file; read from
$FTBENCH_DATA/lawbench/zero_shot/<id>.json (`source="hub"`). The prompt is
`instruction + "\\n" + question`, as in LawBench's released predictions. Each sub-task is a
`kind` scored by its official rule on the raw reply (`metrics.py`; 2-1 through `cherrant.py`
with the tables of `resources.py`).

Rows: every row is kept except those the official scripts skip (2-2 focus "赔偿", 3-4/3-5
death or life sentences), so sub-task figures are the official ones.

Splits (`split_mode`): LawBench publishes only a test set. "official" (default): per sub-task,
`dev_size` rows (25, at most a third of the sub-task) are carved out with a fixed seed as dev
and the rest is test; train is empty (training data comes from elsewhere). "carve" (opt-in,
the 1.x behaviour): per sub-task, test = 30% of the rows, dev = 10% of the rest, train = the rest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.lawbench import cherrant, metrics, resources
from ftbench.source import TaskTexts, carve, check_split_mode, fixture_path, local_file, official_splits, read_rows

KINDS = ("1-1", "1-2", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "2-10",
         "3-1", "3-2", "3-3", "3-4", "3-5", "3-6", "3-7", "3-8")
DATA_URL = "https://github.com/open-compass/LawBench/tree/main/data/zero_shot"
TEST_FRACTION, DEV_FRACTION, SEED = 0.3, 0.1, 9_000      # split_mode=carve
DEV_SIZE = 25                                             # split_mode=official: dev rows per sub-task
PROOFREAD_TABLES = ("auto", "official", "bare")


def proofread_source(prompt: str, question: str) -> str:
    """2-1: the sentence to correct, the line after "句子：" as the official script finds it."""
    start = prompt.find("句子：\n")
    line = prompt[start + 4:].split("\n")[0] if start >= 0 else question.split("\n")[0]
    return re.sub(r"\n|\t", "", line)


def to_example(kind: str, index: int, row: dict[str, Any]) -> Example:
    """One LawBench row of sub-task `kind` as an Example (the prompt is instruction + newline + question;
    the reference is kept verbatim, since some official rules read its raw length or characters)."""
    prompt = f"{row['instruction']}\n{row['question']}"
    meta = {"source": proofread_source(prompt, row["question"])} if kind == "2-1" else {}
    return Example(id=f"lawbench-{kind}-{index:04d}", question=prompt, answer=str(row["answer"]),
                   kind=kind, meta=meta)


def gold_reply(example: Example) -> str:
    """The reply that scores best: the reference, minus prefixes the official scorer strips from
    it, and for 2-6 one "类型:值" per line, which the official entity reader parses back exactly.
    (3-3: a gold charge containing another charge's name, e.g. 合同诈骗 / 诈骗, cannot reach 1.0
    under the official substring rule; no reply can.)"""
    answer = example.answer.strip()
    if example.kind == "1-1":
        return answer.replace("答案:", "")
    if example.kind == "2-5":
        return answer.replace("回答:", "")
    if example.kind == "2-6":
        return "\n".join(f"{t}:{''.join(v.split())}" for t, v in metrics.entities(answer).items()) + "。"
    return answer


def official_skip(example: Example) -> bool:
    """Rows LawBench's scripts leave out of a sub-task's figure."""
    answer = example.answer
    if example.kind == "2-2":
        return answer[7:-1] == "赔偿"
    if example.kind in ("3-4", "3-5"):
        return "死刑" in answer or "无期" in answer
    return False


@dataclass
class LawBenchTask(TaskTexts):
    """`kinds` picks the sub-tasks to load (all 20 by default); `source="fixture"` reads the bundled sample;
    `split_mode` "official" or "carve"; `charges="longest"` is the lenient (non-official) 3-3 rule;
    `proofread_tables` picks 2-1's ChERRANT tables ("auto": official for the real data, bare for the fixture)."""

    name: str = "lawbench"
    version: str = ""
    metric: str = "lawbench_mean_task_score"
    source: str = "hub"
    source_url: str = DATA_URL
    license: str = "mixed: each task follows its original dataset's license (see catalog)"
    kinds: tuple[str, ...] = KINDS
    split_mode: str = "official"
    dev_size: int = DEV_SIZE
    charges: str = "substring"
    proofread_tables: str = "auto"
    _cache: dict[str, list[Example]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _annotator: cherrant.Annotator | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_split_mode(self.name, self.split_mode)
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"lawbench: unknown sub-tasks {sorted(unknown)}; expected some of {KINDS}")
        if self.charges not in metrics.CHARGE_RULES:
            raise ValueError(f"lawbench: charges={self.charges!r} is not one of {metrics.CHARGE_RULES}")
        if self.proofread_tables not in PROOFREAD_TABLES:
            raise ValueError(f"lawbench: proofread_tables={self.proofread_tables!r} is not one of {PROOFREAD_TABLES}")
        if self.dev_size < 1:
            raise ValueError(f"lawbench: dev_size must be at least 1, got {self.dev_size}")
        if not self.version:
            self.version = self._version()

    def _version(self) -> str:
        split = (f"official,dev={self.dev_size}/kind" if self.split_mode == "official"
                 else f"carve,test={TEST_FRACTION},dev={DEV_FRACTION}")
        return (f"2.0 (split={split}; scoring=official,3-3={self.charges},2-1=cherrant-char"
                f"/{self._tables()},timeout>{cherrant.ALIGNMENT_LIMIT}alignments)")

    def _tables(self) -> str:
        if self.proofread_tables == "auto":
            return "bare" if self.source == "fixture" else "official"
        return self.proofread_tables

    @property
    def annotator(self) -> cherrant.Annotator:
        """2-1's ChERRANT annotator (the official tables are loaded on first use)."""
        if self._annotator is None:
            tables = resources.bare() if self._tables() == "bare" else resources.official()
            self._annotator = cherrant.Annotator(tables)
        return self._annotator

    def _path(self, kind: str) -> Path:
        if self.source == "fixture":
            return fixture_path(__file__, f"zero_shot/{kind}.json")
        return local_file(self.name, f"zero_shot/{kind}.json", DATA_URL)

    def usable(self, example: Example) -> bool:
        """Kept for scoring: every row the official scorer keeps."""
        return not official_skip(example)

    def _kept(self, kind: str) -> list[Example]:
        if kind not in self._cache:
            rows = read_rows(self._path(kind))
            self._cache[kind] = [e for e in (to_example(kind, i, row) for i, row in enumerate(rows)) if self.usable(e)]
        return self._cache[kind]

    def splits(self, kind: str) -> dict[str, list[Example]]:
        """One sub-task's train / dev / test under `split_mode`."""
        kept, seed = self._kept(kind), SEED + KINDS.index(kind)
        if self.split_mode == "carve":
            rest, test = carve(kept, TEST_FRACTION, seed)
            train, dev = carve(rest, DEV_FRACTION, seed + 100)
            return {"train": train, "dev": dev, "test": test}
        dev_size = min(self.dev_size, len(kept) // 3)
        if dev_size < 1:
            return {"train": [], "dev": [], "test": list(kept)}
        return official_splits(kept, seed, dev_size=dev_size)

    def load(self, split: Split) -> list[Example]:
        return [e for kind in self.kinds for e in self.splits(kind)[Split(split).value]]

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
        """One reply's official per-row score (2-1: sentence F0.5 of its edits; 3-4/3-5 can be < 0)."""
        annotator = self.annotator if example.kind == "2-1" else None
        return metrics.sample_score(example.kind, prediction, example.answer, example.meta.get("source", ""),
                                    annotator, self.charges)

    def task_scores(self, predictions: list[str], examples: list[Example]) -> dict[str, float]:
        """Each sub-task's official figure over the examples of that kind, unclipped: what LawBench
        publishes per task (3-4/3-5 can be negative)."""
        grouped: dict[str, tuple[list[str], list[str], list[str]]] = {}
        for prediction, example in zip(predictions, examples, strict=True):
            preds, refs, sources = grouped.setdefault(example.kind, ([], [], []))
            preds.append(prediction)
            refs.append(example.answer)
            sources.append(example.meta.get("source", ""))
        return {kind: metrics.corpus_score(kind, *lists, annotator=self.annotator if kind == "2-1" else None,
                                           charges=self.charges)
                for kind, lists in grouped.items()}

    def overall_score(self, predictions: list[str], examples: list[Example]) -> float:
        """LawBench's overall figure, unclipped: the mean over the sub-tasks present of their official scores."""
        scores = self.task_scores(predictions, examples)
        return sum(scores.values()) / len(scores) if scores else 0.0

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """`overall_score` held to [0, 1]: equal to it whenever it is >= 0 (always, unless the 3-4/3-5
        figures are negative enough to pull the whole mean below 0, when it is 0)."""
        return max(0.0, self.overall_score(predictions, examples))
