"""The data-recipe operators, over HF `datasets`. Rows: question, answer, solution, kind, source.

Each operator is a function (Dataset, op, context) -> Dataset; a bad argument raises
RecipeError naming the operator and the argument, which fails only that node.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

import ftbench
from ftbench.base import Task
from ftbench.offline import offline_variable
from trex.tree.records import DecontaminateOp, DedupOp, FilterOp, Source, SourceKind

COLUMNS = ("question", "answer", "solution", "kind", "source")
FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class RecipeError(ValueError):
    """A recipe that cannot be built; the message names the operator and the offending argument."""


@dataclass(frozen=True)
class Context:
    task: Task
    seed: int


def load_source(source: Source, ctx: Context, index: int) -> Dataset:
    """Rows of one source, in the common columns."""
    label = f"source[{index}]"
    if source.kind is SourceKind.TASK:
        rows = [{"question": e.question, "answer": e.answer, "solution": e.solution, "kind": e.kind,
                 "source": f"task:{ctx.task.name}"} for e in ftbench.load_for_training(ctx.task)]
        if not rows:
            raise ValueError(f"{label}: task {ctx.task.name!r} has no training split (a test-only benchmark in "
                             "split_mode=official): use a Hub dataset, a file or synthesis as the source, or "
                             "opt in to training on a carve of the test set with task.split_mode=carve")
        return Dataset.from_list(rows)
    if source.kind is SourceKind.FILE:
        path = Path(source.name).expanduser()
        if path.suffix not in FILE_BUILDERS:
            raise RecipeError(f"load {label}: name={source.name!r} must end in one of {', '.join(FILE_BUILDERS)}")
        if not path.is_file():
            raise RecipeError(f"load {label}: name={source.name!r} is not a file")
        from datasets import load_dataset

        raw = load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path), split="train")
    else:
        raw = _load_hub(source.name, label)
    missing = [f for f in (source.question_field, source.answer_field) if f not in raw.column_names]
    if missing:
        raise RecipeError(f"load {label}: field(s) {missing} not in {source.name!r}; it has {raw.column_names}")
    return raw.map(lambda r: {"question": str(r[source.question_field]), "answer": str(r[source.answer_field]),
                              "solution": "", "kind": "", "source": f"{source.kind}:{source.name}"},
                   remove_columns=raw.column_names)


def _load_hub(name: str, label: str) -> Dataset:
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name):
        raise RecipeError(f"load {label}: name={name!r} is not a Hub dataset id (owner/name)")
    if offline := offline_variable():
        raise RecipeError(f"load {label}: name={name!r} needs the Hugging Face Hub, but this machine is offline "
                          f"({offline}=1)")
    from datasets import load_dataset

    try:
        return load_dataset(name, split="train")
    except Exception as err:   # noqa: BLE001 - any Hub failure is this operator's failure
        raise RecipeError(f"load {label}: name={name!r} could not be loaded: {err}") from None


def select_kinds(ds: Dataset, kinds: list[str], task: Task) -> Dataset:
    unknown = sorted(set(kinds) - set(task.kinds))
    if unknown:
        raise RecipeError(f"select: kinds={unknown} unknown to task {task.name!r}; known: {list(task.kinds)}")
    wanted = set(kinds)
    return ds.filter(lambda r: r["kind"] in wanted or not r["kind"])


def apply_filter(ds: Dataset, op: FilterOp) -> Dataset:
    if op.min_chars > op.max_chars:
        raise RecipeError(f"filter: min_chars={op.min_chars} exceeds max_chars={op.max_chars}")
    pattern = re.compile(op.pattern) if op.pattern else None

    def keep(row: dict) -> bool:
        q = row["question"]
        if not op.min_chars <= len(q) <= op.max_chars:
            return False
        return pattern is None or bool(pattern.search(q)) == op.keep_matching

    return ds.filter(keep)


def apply_dedup(ds: Dataset, op: DedupOp) -> Dataset:
    questions = ds["question"]
    if not op.near:
        seen: set[str] = set()
        keep = []
        for i, q in enumerate(questions):
            key = " ".join(q.lower().split())
            if key not in seen:
                seen.add(key)
                keep.append(i)
        return ds.select(keep)
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=op.threshold, num_perm=64)
    keep = []
    for i, q in enumerate(questions):
        m = MinHash(num_perm=64, seed=1)
        words = q.lower().split()
        m.update_batch([" ".join(words[j:j + 3]).encode() for j in range(max(1, len(words) - 2))])
        if not lsh.query(m):
            lsh.insert(str(i), m)
            keep.append(i)
    return ds.select(keep)


def apply_decontaminate(ds: Dataset, op: DecontaminateOp, task: Task) -> Dataset:
    held = ftbench.heldout_ngrams(task, op.ngram)
    return ds.filter(lambda r: not (ftbench.word_ngrams(r["question"], op.ngram) & held))


def mix(parts: list[tuple[Dataset, float]], cap: int, seed: int) -> Dataset:
    """Shuffle each source and take shares proportional to the weights, up to `cap` in all."""
    from datasets import concatenate_datasets

    total = sum(w for _, w in parts)
    chosen = []
    for i, (ds, weight) in enumerate(parts):
        quota = min(len(ds), round(cap * weight / total)) if len(parts) > 1 else min(len(ds), cap)
        chosen.append(ds.shuffle(seed=seed + i).select(range(quota)))
    return concatenate_datasets(chosen).shuffle(seed=seed)
