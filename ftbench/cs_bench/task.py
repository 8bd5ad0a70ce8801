"""`cs_bench`: computer-science questions (CS-Bench, English); accuracy on exactly gradable items.

Source: the benchmark's published English file `data/en_test.json` from
github.com/csbench/csbench (JSON lines despite the suffix; fields ID, Split, Domain,
SubDomain, Format, Tag, Language, Question, A-D for multiple choice, Answer, and
Explanation on reasoning items), expected under $FTBENCH_DATA/cs_bench/. Four domains
(data structures and algorithms, computer organization, computer network, operating
system) are the task's kinds.

Faithful part and simplification: CS-Bench grades multiple-choice and assertion
(true/false) items by pattern matching, and fill-in-the-blank and open-ended items with a
GPT-4 judge. No judge is available here, so open-ended items are left out of every split,
and fill-in-the-blank items are graded by normalized exact match with the gold answer
(case, whitespace and a trailing full stop ignored): a strict lower bound on the judge's
verdict. Multiple choice takes the first standalone letter A-D of the answer, assertion
the first true/false, as the official script does.

Splits: the source has no train split, so the gradable items are carved with a fixed seed:
test = `test_fraction` of them, dev = `dev_fraction` of the rest, train = the remainder
minus any item whose question text also occurs in dev or test.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, carve, drop_held_out, fixture_path, local_file

FILE = "en_test.json"
FILE_URL = "https://github.com/csbench/csbench/blob/main/data/en_test.json"
DOMAINS = {
    "Data Structure and Algorithm": "data_structure_and_algorithm",
    "Computer Organization": "computer_organization",
    "Computer Network": "computer_network",
    "Operating System": "operating_system",
}
MULTIPLE_CHOICE, ASSERTION, FILL_IN, OPEN_ENDED = "Multiple-choice", "Assertion", "Fill-in-the-blank", "Open-ended"
_ANSWER = re.compile(r"answer\s*[:：]", re.IGNORECASE)
_LETTER = re.compile(r"\b([A-D])\b")
_TRUTH = re.compile(r"\b(true|false)\b", re.IGNORECASE)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a CS-Bench file: a JSON list, or JSON lines (as in the repository's data/*.json)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return data if isinstance(data, list) else [data]


def _gold(row: dict[str, Any]) -> str:
    answer = row["Answer"]
    if row["Format"] == ASSERTION:
        truth = answer if isinstance(answer, bool) else str(answer).strip().lower() == "true"
        return "true" if truth else "false"
    return str(answer).strip()


def to_example(row: dict[str, Any]) -> Example | None:
    """One source row as an Example; None for open-ended items (not exactly gradable) and
    items without a gold answer."""
    form = row["Format"]
    if form == OPEN_ENDED or row.get("Answer") is None or not str(row["Answer"]).strip():
        return None
    question = str(row["Question"]).strip()
    if form == MULTIPLE_CHOICE:
        options = "\n".join(f"{k}. {str(row[k]).strip()}" for k in "ABCD")
        text = f"Multiple choice (answer with the letter of the correct option):\n{question}\n{options}"
    elif form == ASSERTION:
        text = f"True or false: {question}"
    elif form == FILL_IN:
        text = f"Fill in the blank (answer with the missing words only): {question}"
    else:
        raise ValueError(f"cs_bench: item {row['ID']} has unknown format {form!r}")
    return Example(id=f"csbench-{row['ID']}", question=text, answer=_gold(row),
                   solution=str(row.get("Explanation") or "").strip(), kind=DOMAINS[row["Domain"]],
                   meta={"format": form, "tag": str(row["Tag"]), "subdomain": str(row["SubDomain"])})


def normalize_blank(text: str) -> str:
    """Fill-in answers compared without case, whitespace, wrapping quotes/markup or a final full stop."""
    text = text.strip().strip("*`\"'").rstrip(".。").lower()
    return "".join(text.split())


@dataclass
class CsBenchTask(TaskTexts):
    name: str = "cs_bench"
    version: str = "1.0"
    metric: str = "accuracy"
    source: str = "hub"
    source_url: str = FILE_URL
    license: str = "CC BY-NC 4.0"
    kinds: tuple[str, ...] = tuple(DOMAINS.values())
    test_fraction: float = 0.3
    dev_fraction: float = 0.12
    split_seed: int = 2_024

    def _examples(self) -> list[Example]:
        path = fixture_path(__file__, FILE) if self.source == "fixture" else local_file(self.name, FILE, FILE_URL)
        return [e for e in map(to_example, read_records(path)) if e is not None]

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        rest, test = carve(self._examples(), self.test_fraction, self.split_seed)
        if split is Split.TEST:
            return test
        train, dev = carve(rest, self.dev_fraction, self.split_seed + 1)
        if split is Split.DEV:
            return dev
        return drop_held_out(train, dev, test)

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": (
            "Answer this computer-science question. End your reply with a line \"Answer: ...\" holding "
            "only the option letter (multiple choice), true or false (true/false statements), or the "
            f"missing words (fill in the blank).\n\n{question}")}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        if reasoning and example.solution:
            return f"{example.solution}\nAnswer: {example.answer}"
        return f"Answer: {example.answer}"

    def extract(self, completion: str) -> str:
        """The text after the last 'Answer:' (else the last non-empty line), stripped; '' if none."""
        markers = list(_ANSWER.finditer(completion))
        if markers:
            return completion[markers[-1].end():].strip()
        lines = [line.strip() for line in completion.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def score(self, prediction: str, example: Example) -> float:
        form = example.meta["format"]
        if form == MULTIPLE_CHOICE:
            found = _LETTER.search(prediction)
            return float(found is not None and found.group(1) == example.answer)
        if form == ASSERTION:
            found = _TRUTH.search(prediction)
            return float(found is not None and found.group(1).lower() == example.answer)
        return float(bool(prediction.strip()) and normalize_blank(prediction) == normalize_blank(example.answer))

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
