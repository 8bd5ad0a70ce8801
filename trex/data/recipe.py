"""Build a training set from a spec's data recipe: load -> select -> operators -> mix/cap -> template.

Built sets are cached by a content hash of (task, recipe, seed), so siblings and children
that reuse a recipe skip the build.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, load_from_disk

from ftbench.base import Example, Task
from trex.data.llm_ops import DataLLM, Meter, llm_score, synthesize
from trex.data.ops import (
    Context,
    RecipeError,
    apply_decontaminate,
    apply_dedup,
    apply_filter,
    load_source,
    mix,
    select_kinds,
)
from trex.tree.records import (
    LLM_OPS,
    AnswerFormat,
    DataRecipe,
    DecontaminateOp,
    DedupOp,
    FilterOp,
    LLMScoreOp,
    LLMUsage,
    SourceKind,
    SynthesizeOp,
)

log = logging.getLogger(__name__)

__all__ = ["BuiltData", "RecipeError", "build_sft_dataset", "completion_text", "recipe_key"]


@dataclass(frozen=True)
class BuiltData:
    dataset: Dataset
    key: str
    cached: bool
    counts: dict[str, int] = field(default_factory=dict)   # rows after each step
    llm_usage: LLMUsage = LLMUsage()                        # LLM operators' calls (none when cached)


def completion_text(task: Task, row: dict[str, str], answer_format: AnswerFormat) -> str:
    """The training completion for a row: the task's own target, worked solution first if asked."""
    example = Example(id="", question=row["question"], answer=row["answer"], solution=row["solution"],
                      kind=row["kind"])
    return task.target(example, reasoning=answer_format is AnswerFormat.REASONING)


def recipe_key(task: Task, recipe: DataRecipe, seed: int, llm: DataLLM | None = None) -> str:
    """Content hash of everything that determines the built set: the task and its options (with
    a stamp of every file they name), the recipe, the seed, and the LLM if an operator calls it."""
    uses_llm = any(op.op in LLM_OPS for op in recipe.ops)
    body = {"llm": [llm.base_url, llm.model, llm.temperature] if uses_llm and llm else None,
            "task": task.name, "version": task.version, "options": _task_options(task),
            "recipe": recipe.model_dump(mode="json"), "seed": seed,
            "files": [_file_stamp(s.name) for s in recipe.sources if s.kind is SourceKind.FILE]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]


def _task_options(task: Task) -> dict[str, object]:
    """The task's plain-valued attributes (sizes, seeds, sources, file paths with their stamps)."""
    options: dict[str, object] = {}
    for key, value in sorted(vars(task).items()):
        if key.startswith("_") or not isinstance(value, (str, int, float, bool, tuple, list, type(None))):
            continue
        options[key] = _file_stamp(value) if isinstance(value, str) and Path(value).expanduser().is_file() else value
    return options


def _file_stamp(name: str) -> list[object]:
    path = Path(name).expanduser()
    return [str(path), path.stat().st_mtime_ns, path.stat().st_size] if path.is_file() else [str(path)]


def _build(task: Task, recipe: DataRecipe, seed: int, llm: DataLLM | None,
           meter: Meter) -> tuple[Dataset, dict[str, int]]:
    ctx = Context(task=task, seed=seed)
    counts: dict[str, int] = {}
    parts = []
    for i, source in enumerate(recipe.sources):
        ds = load_source(source, ctx, i)
        counts[f"load[{i}]"] = len(ds)
        if recipe.kinds:
            ds = select_kinds(ds, recipe.kinds, task)
            counts[f"select[{i}]"] = len(ds)
        parts.append((ds, source.weight))
    from datasets import concatenate_datasets

    for j, op in enumerate(recipe.ops):
        tagged = [(ds.add_column("_part", [p] * len(ds)), w) for p, (ds, w) in enumerate(parts)]
        merged = concatenate_datasets([ds for ds, _ in tagged])
        if isinstance(op, FilterOp):
            merged = apply_filter(merged, op)
        elif isinstance(op, DedupOp):
            merged = apply_dedup(merged, op)
        elif isinstance(op, DecontaminateOp):
            merged = apply_decontaminate(merged, op, task)
        elif isinstance(op, (SynthesizeOp, LLMScoreOp)):
            if llm is None:
                raise RecipeError(f"{op.op}: needs the agent LLM endpoint, and this executor was given none")
            apply: Callable[..., Dataset] = synthesize if isinstance(op, SynthesizeOp) else llm_score
            merged = apply(merged, op, llm.client(), task.description, seed + 1000 * (j + 1), meter)
        counts[f"{op.op}[{j}]"] = len(merged)
        parts = [(merged.filter(lambda r, p=p: r["_part"] == p).remove_columns("_part"), w)
                 for p, (_, w) in enumerate(parts)]
    ds = mix(parts, recipe.max_samples, seed)
    counts["mix"] = len(ds)
    if len(ds) == 0:
        raise RecipeError(f"recipe left no training examples (rows after each step: {counts})")
    fmt = recipe.answer_format
    ds = ds.map(lambda r: {"prompt": task.messages(r["question"]),
                           "completion": [{"role": "assistant",
                                           "content": completion_text(task, r, fmt)}],
                           "answer": r["answer"]},
                remove_columns=[c for c in ds.column_names if c != "answer"])
    return ds, counts


def build_sft_dataset(task: Task, recipe: DataRecipe, seed: int, cache_dir: Path | None = None,
                      llm: DataLLM | None = None, llm_max_tokens: int | None = None) -> BuiltData:
    """The prompt/completion chats of a recipe, from the cache when it was built before."""
    key = recipe_key(task, recipe, seed, llm)
    target = cache_dir / key if cache_dir else None
    if target is not None and (target / "counts.json").is_file():
        return BuiltData(load_from_disk(str(target / "data")), key, True,
                         json.loads((target / "counts.json").read_text()))
    meter = Meter(max_tokens=llm_max_tokens)
    ds, counts = _build(task, recipe, seed, llm, meter)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}."))
        try:
            ds.save_to_disk(str(tmp / "data"))
            (tmp / "counts.json").write_text(json.dumps(counts))
            tmp.replace(target)
        except OSError:       # another executor cached the same recipe first
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("data %s: %s", key, counts)
    return BuiltData(ds, key, False, counts, meter.usage)
