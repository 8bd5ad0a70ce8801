"""`cs_bench`: computer-science questions (CS-Bench, English).

Source: github.com/csbench/csbench, the English test set `data/en_test.json` (JSON lines
despite the suffix; same rows as `Dataset/CSBench-EN/test.json`) and validation set
`Dataset/CSBench-EN/valid.json` (a JSON list), expected under $FTBENCH_DATA/cs_bench/ as
`en_test.json` and `valid.json`. Fields: ID, Split, Domain, SubDomain, Format, Tag,
Language, Question, A-D for multiple choice, Answer, and Explanation on some items. The
four domains are the task's kinds.

Splits (`split_mode`): "official" (default): test = the whole official test set, dev =
the whole official validation set, train empty (CS-Bench has no training set; training
data must come from other sources). "carve" (opt-in, the 1.x behaviour): the test set
alone is carved with a fixed seed into test (`test_fraction`), dev (`dev_fraction` of the
rest) and train (the remainder minus items whose question text occurs in dev or test).

Scoring, official part: multiple choice takes the first standalone letter A-D, assertion
the first true/false, as CS-Bench's `gen_judgment.py` does (deviations: we match in the
extracted answer, and letters case-sensitively so the article "a" is not option A; the
script compares its lower-case true/false match with the upper-cased gold, which never
agrees, so we compare case-insensitively as the paper's assertion scores imply). Fill-in-the-blank and open-ended items
are graded officially by a GPT-4 judge. With `judge="llm"` an OpenAI-compatible endpoint
(`judge_base_url`, `judge_model`, key in $`judge_api_key_env`) grades them with the
official criteria (see judge.py): fill-in 0/1, open-ended 1-10 counted as mark / 10; the
metric is then `score_all_formats_llm_judge` over all four formats. With `judge="none"`
(default) open-ended items are left out of every split and fill-in answers need a
normalized exact match (case, whitespace, wrapping quotes and a final full stop ignored),
a lower bound on the judge's verdict: metric `accuracy_mc_tf_fill_exact`.
Deviations with the judge: the judge sees the extracted answer, not the whole reply; an
exact fill-in match scores 1 and an empty answer 0 without asking it.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.cs_bench.judge import FILL_IN_PROMPT, OPEN_ENDED_PROMPT, Judge
from ftbench.source import TaskTexts, carve, check_split_mode, drop_held_out, fixture_path, local_file, official_splits

FILE, VALID_FILE = "en_test.json", "valid.json"
FILE_URL = "https://github.com/csbench/csbench/blob/main/data/en_test.json"
VALID_URL = "https://github.com/csbench/csbench/blob/main/Dataset/CSBench-EN/valid.json"
DOMAINS = {
    "Data Structure and Algorithm": "data_structure_and_algorithm",
    "Computer Organization": "computer_organization",
    "Computer Network": "computer_network",
    "Operating System": "operating_system",
}
MULTIPLE_CHOICE, ASSERTION, FILL_IN, OPEN_ENDED = "Multiple-choice", "Assertion", "Fill-in-the-blank", "Open-ended"
JUDGES = ("none", "llm")
METRICS = {"none": "accuracy_mc_tf_fill_exact", "llm": "score_all_formats_llm_judge"}
_ANSWER = re.compile(r"answer\s*[:：]", re.IGNORECASE)
_LETTER = re.compile(r"\b([A-D])\b")
_TRUTH = re.compile(r"\b(true|false)\b")   # on the lower-cased text, as gen_judgment.py


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a CS-Bench file: a JSON list (Dataset/*) or JSON lines (data/*.json)."""
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


def to_example(row: dict[str, Any], open_ended: bool = False) -> Example | None:
    """One source row as an Example; None for items without a gold answer, and for open-ended
    items unless `open_ended` (they need the LLM judge)."""
    form = row["Format"]
    if (form == OPEN_ENDED and not open_ended) or row.get("Answer") is None or not str(row["Answer"]).strip():
        return None
    question = str(row["Question"]).strip()
    meta = {"format": form, "tag": str(row["Tag"]), "subdomain": str(row["SubDomain"])}
    if form == MULTIPLE_CHOICE:
        options = "\n".join(f"{k}. {str(row[k]).strip()}" for k in "ABCD")
        text = f"Multiple choice (answer with the letter of the correct option):\n{question}\n{options}"
    elif form == ASSERTION:
        text = f"True or false: {question}"
    elif form == FILL_IN:
        text, meta["source_question"] = f"Fill in the blank (answer with the missing words only): {question}", question
    elif form == OPEN_ENDED:
        text, meta["source_question"] = f"Open question (answer briefly, in a few sentences): {question}", question
    else:
        raise ValueError(f"cs_bench: item {row['ID']} has unknown format {form!r}")
    return Example(id=f"csbench-{row['ID']}", question=text, answer=_gold(row),
                   solution=str(row.get("Explanation") or "").strip(), kind=DOMAINS[row["Domain"]], meta=meta)


def normalize_blank(text: str) -> str:
    """Fill-in answers compared without case, whitespace, wrapping quotes/markup or a final full stop."""
    text = text.strip().strip("*`\"'").rstrip(".。").lower()
    return "".join(text.split())


@dataclass
class CsBenchTask(TaskTexts):
    name: str = "cs_bench"
    source: str = "hub"
    source_url: str = FILE_URL
    license: str = "CC BY-NC 4.0"
    kinds: tuple[str, ...] = tuple(DOMAINS.values())
    split_mode: str = "official"
    test_fraction: float = 0.3          # split_mode=carve only
    dev_fraction: float = 0.12          # split_mode=carve only
    split_seed: int = 2_024             # split_mode=carve only
    judge: str = "none"                 # "llm": grade fill-in and open-ended items with an LLM judge
    judge_base_url: str = ""            # e.g. http://localhost:8000/v1
    judge_model: str = ""
    judge_api_key_env: str = "OPENAI_API_KEY"
    judge_workers: int = 8              # concurrent judge requests in aggregate()
    judge_timeout_s: float = 120.0
    _verdicts: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_split_mode(self.name, self.split_mode)
        if self.judge not in JUDGES:
            raise ValueError(f"cs_bench: judge={self.judge!r} is not one of {', '.join(JUDGES)}")
        if self.judge == "llm":
            missing = [n for n in ("judge_base_url", "judge_model") if not str(getattr(self, n)).strip()]
            if missing:
                raise ValueError(f"cs_bench: judge=llm needs {' and '.join(missing)} (an OpenAI-compatible "
                                 "endpoint, e.g. judge_base_url=http://localhost:8000/v1 judge_model=<served name>)")
        if self.judge_workers < 1:
            raise ValueError(f"cs_bench: judge_workers must be at least 1, got {self.judge_workers}")

    @property
    def version(self) -> str:
        """2.x: split modes and the judge; recorded with every score."""
        return f"2.0-{self.split_mode}" + (f"-judge:{self.judge_model}" if self.judge == "llm" else "")

    @property
    def metric(self) -> str:
        return METRICS[self.judge]

    def _examples(self, file: str, url: str) -> list[Example]:
        path = fixture_path(__file__, file) if self.source == "fixture" else local_file(self.name, file, url)
        examples = (to_example(row, open_ended=self.judge == "llm") for row in read_records(path))
        return [e for e in examples if e is not None]

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        if self.split_mode == "official":     # each split reads only its own file
            test = self._examples(FILE, FILE_URL) if split is Split.TEST else []
            dev = self._examples(VALID_FILE, VALID_URL) if split is Split.DEV else []
            return official_splits(test, self.split_seed, dev=dev)[split.value]
        rest, test = carve(self._examples(FILE, FILE_URL), self.test_fraction, self.split_seed)
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
            "missing words (fill in the blank); for an open question, write your brief answer after "
            f"\"Answer:\".\n\n{question}")}]

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

    def _judge(self) -> Judge:
        return Judge(self.judge_base_url, self.judge_model, self.judge_api_key_env, self.judge_timeout_s)

    def _judged(self, prediction: str, example: Example) -> float:
        """The judge's score for a fill-in or open-ended answer in [0, 1], asked once per (item, answer)."""
        key = (example.id, prediction)
        if key not in self._verdicts:
            fields = {"question": example.meta.get("source_question", example.question),
                      "reference": example.answer, "answer": prediction.strip()}
            if example.meta["format"] == FILL_IN:
                score = float(self._judge().grade(example.id, FILL_IN_PROMPT, 0, 1, **fields))
            else:
                score = self._judge().grade(example.id, OPEN_ENDED_PROMPT, 1, 10, **fields) / 10
            self._verdicts[key] = score
        return self._verdicts[key]

    def score(self, prediction: str, example: Example) -> float:
        form = example.meta["format"]
        if form == MULTIPLE_CHOICE:
            found = _LETTER.search(prediction)
            return float(found is not None and found.group(1) == example.answer)
        if form == ASSERTION:
            found = _TRUTH.search(prediction.lower())      # not re.IGNORECASE: that also reads "falſe"
            return float(found is not None and found.group(1) == example.answer)
        if not prediction.strip():
            return 0.0
        if form == FILL_IN and normalize_blank(prediction) == normalize_blank(example.answer):
            return 1.0
        if self.judge == "llm":
            return self._judged(prediction, example)
        if form == OPEN_ENDED:
            raise ValueError(f"cs_bench: {example.id} is open-ended and needs judge=llm to be scored")
        return 0.0

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """Mean per-item score; with the judge, its requests run `judge_workers` at a time first."""
        pairs = list(zip(predictions, examples, strict=True))
        if self.judge == "llm" and len(pairs) > 1:
            with ThreadPoolExecutor(self.judge_workers) as pool:
                list(pool.map(lambda pair: self.score(*pair), pairs))
        scores = [self.score(p, e) for p, e in pairs]
        return sum(scores) / len(scores) if scores else 0.0
