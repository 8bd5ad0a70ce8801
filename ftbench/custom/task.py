"""`custom`: a user's own task from three files, no code.

Options: `train`, `dev`, `test` (.jsonl, .json, .csv, .tsv or .parquet files), `input_column`
and `output_column` (default "input" and "output"; an "id" column with unique values names the
rows), `metric` (accuracy | exact_match | macro_f1 | rouge1), `description` (what the model must
do; the Researcher is shown it with the format, metric and split sizes appended, and it opens
every prompt), `labels` (optional label set, a list or "a,b,c": makes the task classification).
`source="files"` (default) reads the user's files; `source="fixture"` reads a small bundled
example (routing support messages to billing / shipping / technical) from `fixture/`.

Everything is read and checked when the task is built, so a bad option fails at once with a
message naming it: a missing file, a missing column (with the columns the file has), an unknown
metric, an empty split, a gold output outside `labels`.

Overlap (decided: drop, with a warning): a train row whose input (whitespace-normalized) also
appears in dev or test is dropped from train, and a dev row whose input appears in test is
dropped from dev; a warning gives the counts. Test stays exactly as given, so scores remain
comparable, and no test question can reach training. A split left empty is an error.

Scoring. Classification (labels given, or metric macro_f1): the first non-empty line of the
completion, a trailing period removed, mapped to the label it names ignoring case; anything
outside the label set scores 0. Otherwise the whole stripped completion is the prediction.
- exact_match: prediction equals the gold output after collapsing whitespace.
- accuracy: the same, ignoring case.
- macro_f1: scikit-learn's macro F1 over the label set (`labels`, else every gold output in the
  three files), counting only labels that occur in the split's gold outputs or predictions;
  the per-sample score is exact match.
- rouge1: mean per-sample ROUGE-1 F1 (rouge-score, no stemming). Its tokenizer is rouge-score's
  default (lower-case, alphanumeric runs) widened to Unicode letters, so non-Latin outputs score.
"""
from __future__ import annotations

import functools
import logging
import math
import re
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split

log = logging.getLogger(__name__)

METRICS = ("accuracy", "exact_match", "macro_f1", "rouge1")
SOURCES = ("files", "fixture")
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
FIXTURE = Path(__file__).with_name("fixture")
_TOKEN = re.compile(r"[^\W_]+")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _text(value: Any) -> str:
    """A cell as stripped text; None and NaN (empty CSV/parquet cells) are ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .json, .csv, .tsv or .parquet file (CSV cells stay strings).
    Raises UnreadableFile naming the file (and for JSON, CSV and TSV the line) that does not parse."""
    from ftbench.source import UnreadableFile, read_rows

    if path.suffix == ".parquet":
        import pandas as pd

        try:
            return pd.read_parquet(path).to_dict("records")
        except (ImportError, FileNotFoundError):
            raise
        except Exception as err:   # noqa: BLE001 - pyarrow raises several types for a bad file
            raise UnreadableFile(path, "", f"not a valid Parquet file ({type(err).__name__}: {err})") from None
    rows = read_rows(path)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UnreadableFile(path, "", "not a list of objects (give a JSON list of rows, or {\"data\": [rows]})")
    return rows


class _Tokenizer:
    """rouge-score's default tokenization (lower-case, alphanumeric runs), kept for non-ASCII letters."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())


class CustomTask:
    """A task defined by the user's files and options; see the module docstring."""

    name = "custom"
    version = "1.0"
    license = "as licensed by the user who supplies the files"
    kinds: tuple[str, ...] = ()

    def __init__(self, train: str | None = None, dev: str | None = None, test: str | None = None,
                 input_column: str = "input", output_column: str = "output", metric: str = "accuracy",
                 description: str | None = None, labels: list[str] | tuple[str, ...] | str | None = None,
                 source: str = "files") -> None:
        if source not in SOURCES:
            raise ValueError(f"custom: source={source!r} is not one of {SOURCES}")
        if metric not in METRICS:
            raise ValueError(f"custom: metric={metric!r} is not accepted; choose one of {', '.join(METRICS)}")
        if source == "fixture":
            train, dev, test = (p or str(FIXTURE / f"{s}.jsonl")
                                for p, s in ((train, "train"), (dev, "dev"), (test, "test")))
            description = description or (FIXTURE / "description.txt").read_text(encoding="utf-8")
        if not description or not str(description).strip():
            raise ValueError("custom: description= is required: tell the Researcher (and the model) what the task is")
        self.source, self.metric, self.input_column, self.output_column = source, metric, input_column, output_column
        self.instruction = str(description).strip()
        self.labels = _labels(labels)
        self.paths = {Split(s): _path(s, p) for s, p in (("train", train), ("dev", dev), ("test", test))}
        self.source_url = ("bundled example: ftbench/custom/fixture/" if source == "fixture"
                           else ", ".join(f"{s}={p}" for s, p in self.paths.items()))
        self._splits = {s: self._read(s, p) for s, p in self.paths.items()}
        if self.metric == "macro_f1" and not self.labels:
            self.labels = tuple(sorted({e.answer for rows in self._splits.values() for e in rows}))
        self._check_labels()
        self._drop_overlap()

    # --- reading ---------------------------------------------------------------------------

    def _read(self, split: Split, path: Path) -> list[Example]:
        from ftbench.source import UnreadableFile

        try:
            rows = read_table(path)
        except UnreadableFile as err:
            where = f" {err.where}" if err.where else ""
            raise ValueError(f"custom: {split}={err.path!r}{where}: {err.detail}; "
                             "fix the file or give another") from None
        if not rows:
            raise ValueError(f"custom: {split}={str(path)!r} holds no rows")
        ids = [_text(r.get("id")) for r in rows]
        use_ids = all(ids) and len(set(ids)) == len(ids)
        examples = []
        for i, row in enumerate(rows):
            for column in (self.input_column, self.output_column):
                if column not in row:
                    raise ValueError(f"custom: {split}={str(path)!r} has no column {column!r} (row {i} has: "
                                     f"{', '.join(map(str, row))}); set input_column= / output_column=")
            question, answer = _text(row[self.input_column]), _text(row[self.output_column])
            if not question or not answer:
                empty = self.input_column if not question else self.output_column
                raise ValueError(f"custom: {split}={str(path)!r} row {i} has an empty {empty!r}")
            examples.append(Example(id=ids[i] if use_ids else f"{split}-{i:05d}", question=question, answer=answer))
        return examples

    def _check_labels(self) -> None:
        if not self.labels:
            return
        for split, examples in self._splits.items():
            outside = sorted({e.answer for e in examples} - set(self.labels))
            if outside:
                raise ValueError(f"custom: {split} has output(s) {', '.join(map(repr, outside[:5]))} not in "
                                 f"labels ({', '.join(self.labels)})")

    def _drop_overlap(self) -> None:
        """Train loses inputs seen in dev or test, dev loses inputs seen in test (logged)."""
        test = {_norm(e.question) for e in self._splits[Split.TEST]}
        dev = {_norm(e.question) for e in self._splits[Split.DEV]}
        for split, held in ((Split.DEV, test), (Split.TRAIN, test | dev)):
            kept = [e for e in self._splits[split] if _norm(e.question) not in held]
            dropped = len(self._splits[split]) - len(kept)
            if dropped:
                log.warning("custom: dropped %d %s row(s) whose input also appears in a held-out split", dropped, split)
            if not kept:
                raise ValueError(f"custom: {split}={str(self.paths[split])!r} is empty once the {dropped} row(s) "
                                 "whose input also appears in a held-out split are dropped")
            self._splits[split] = kept

    # --- the Task protocol -----------------------------------------------------------------

    @property
    def classification(self) -> bool:
        return bool(self.labels)

    @property
    def description(self) -> str:
        sizes = {s: len(v) for s, v in self._splits.items()}
        if self.classification:
            output = f"exactly one label, on the first line: {', '.join(self.labels)}"
        else:
            output = f"the `{self.output_column}` text itself, nothing else"
        return (f"# custom task\n\n{self.instruction}\n\n"
                f"Input: the `{self.input_column}` field of a row, shown after the instruction above. "
                f"Output: {output}.\nMetric: {self.metric} ({_METRIC_TEXT[self.metric]}), in [0, 1].\n"
                f"Data: train {sizes[Split.TRAIN]} rows (the only split training may use), "
                f"dev {sizes[Split.DEV]} rows (scores each experiment), test {sizes[Split.TEST]} rows (hidden).\n")

    @property
    def catalog(self) -> str:
        lines = [f"- {s}: {p} ({len(self._splits[s])} rows{', hidden' if s is Split.TEST else ''})"
                 for s, p in self.paths.items()]
        return "User-supplied files (custom task); no other source is known:\n" + "\n".join(lines) + "\n"

    def load(self, split: Split) -> list[Example]:
        return list(self._splits[Split(split)])

    def messages(self, question: str) -> list[dict[str, str]]:
        if self.classification:
            answer = f"Answer with exactly one of: {', '.join(self.labels)}."
        else:
            answer = "Answer with the output only."
        return [{"role": "user", "content": f"{self.instruction}\n{answer}\n\n{question}"}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return example.answer

    def extract(self, completion: str) -> str:
        """The stripped completion; for classification its first line, matched to a label ignoring case."""
        text = completion.strip()
        if not self.classification:
            return text
        line = text.splitlines()[0].strip().rstrip(".").strip() if text else ""
        return next((label for label in self.labels if label.casefold() == line.casefold()), line)

    def score(self, prediction: str, example: Example) -> float:
        if self.classification and prediction not in self.labels:
            return 0.0
        if self.metric == "rouge1":
            return _rouge1(prediction, example.answer)
        if self.metric == "accuracy":
            return float(_norm(prediction).casefold() == _norm(example.answer).casefold())
        return float(_norm(prediction) == _norm(example.answer))

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        if len(predictions) != len(examples):
            raise ValueError(f"custom: {len(predictions)} predictions for {len(examples)} examples")
        if not examples:
            return 0.0
        if self.metric == "macro_f1":
            from sklearn.metrics import f1_score

            gold = [e.answer for e in examples]
            present = [label for label in self.labels if label in set(gold) | set(predictions)]
            return float(f1_score(gold, predictions, labels=present, average="macro", zero_division=0))
        return sum(self.score(p, e) for p, e in zip(predictions, examples, strict=False)) / len(examples)


_METRIC_TEXT = {
    "accuracy": "share of predictions equal to the gold output, ignoring case and extra whitespace",
    "exact_match": "share of predictions equal to the gold output, ignoring extra whitespace",
    "macro_f1": "F1 per label, averaged with equal weight over the labels",
    "rouge1": "mean ROUGE-1 F1 between prediction and gold output",
}


def _labels(labels: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...]:
    if labels is None:
        return ()
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    out = tuple(dict.fromkeys(_text(x) for x in items if _text(x)))
    if not out:
        raise ValueError(f"custom: labels={labels!r} names no label; give a list such as [yes, no], or leave it unset")
    return out


def _path(split: str, value: str | None) -> Path:
    if not value:
        raise ValueError(f"custom: {split}= is required (a {', '.join(SUFFIXES)} file)")
    path = Path(str(value)).expanduser()
    if path.suffix not in SUFFIXES:
        raise ValueError(f"custom: {split}={str(value)!r} is not a {', '.join(SUFFIXES)} file")
    if not path.is_file():
        raise FileNotFoundError(f"custom: {split}={str(value)!r} not found (looked for {path.resolve()})")
    return path.resolve()


@functools.cache
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False, tokenizer=_Tokenizer())


def _rouge1(prediction: str, gold: str) -> float:
    return float(_scorer().score(gold, prediction)["rouge1"].fmeasure)
