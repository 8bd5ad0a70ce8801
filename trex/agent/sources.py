"""Which data sources a proposal may name: checked before a node is created, so a source that
does not exist, or that would leak the task's held-out data, is rejected with a reason the LLM
reads in its retry prompt (instead of costing a FAILED node, or worse, a contaminated one)."""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ftbench.offline import is_offline, offline_variable
from trex.tree.records import DataRecipe, Source, SourceKind

HUB_URL = re.compile(r"huggingface\.co/datasets/([\w.-]+/[\w.-]+)")
HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
HELDOUT_WORDS = ("dev", "test", "validation", "eval", "heldout", "held-out", "held_out")


def hub_offline() -> bool:
    return is_offline()


@dataclass(frozen=True)
class SourceRules:
    """What the task holds back: its own Hub ids and its dev/test files (never a training source)."""

    task: str
    heldout_hub_ids: tuple[str, ...] = ()
    heldout_files: tuple[str, ...] = ()
    offline: bool = False
    hub_exists: Callable[[str], bool] | None = None   # online existence check; None = not checked


def rules_for_task(task: object, offline: bool | None = None) -> SourceRules:
    """Held-out sources of an ftbench task: Hub ids in its source_url, and its dev/test files."""
    url = str(getattr(task, "source_url", ""))
    hub = tuple(sorted({m.lower() for m in HUB_URL.findall(url)}))
    files: set[str] = set()
    for split, path in (getattr(task, "paths", None) or {}).items():
        if str(split) != "train":
            files.add(os.path.realpath(str(path)))
    for part in url.split(","):     # custom tasks: "train=a.jsonl, dev=b.jsonl, test=c.jsonl"
        key, _, value = part.strip().partition("=")
        if value and key.strip() in ("dev", "test"):
            files.add(os.path.realpath(value.strip()))
    return SourceRules(task=str(getattr(task, "name", "")), heldout_hub_ids=hub, heldout_files=tuple(sorted(files)),
                       offline=hub_offline() if offline is None else offline)


def _names_heldout_split(name: str) -> str | None:
    words = re.split(r"[^a-z]+", name.lower())
    return next((w for w in HELDOUT_WORDS if w in words), None)


def check_source(source: Source, rules: SourceRules) -> str | None:
    """Why `source` may not be used, or None when it may."""
    name = source.name.strip()
    if source.kind is SourceKind.TASK:
        if name and name not in (rules.task, "train", f"{rules.task}:train", f"task:{rules.task}"):
            split = _names_heldout_split(name)
            why = f"the {split} split is held out for scoring" if split else "it takes no name"
            return (f"task source name={name!r} is not allowed: {why}; the task source is always the task's "
                    "train split, leave name empty")
        return None
    if source.kind is SourceKind.FILE:
        if not name.endswith(FILE_SUFFIXES):
            return f"file source name={name!r} must end in one of {', '.join(FILE_SUFFIXES)}"
        path = Path(name).expanduser()
        if os.path.realpath(path) in rules.heldout_files:
            return f"file source {name!r} is the task's held-out dev/test data and may never be trained on"
        if not path.is_file():
            return f"file source {name!r} does not exist on this machine; use the task source or an existing file"
        return None
    if not name or not HUB_ID.fullmatch(name):
        return f"hub source name={name!r} is not a Hub dataset id (owner/name)"
    if name.lower() in rules.heldout_hub_ids:
        return (f"hub source {name!r} is where the task's dev/test data comes from and may not be trained on; "
                "use the task source (its train split) instead")
    if rules.offline:
        return (f"hub source {name!r} cannot be loaded: this machine is offline ({offline_variable()}=1); "
                "use the task source")
    if rules.hub_exists is not None and not rules.hub_exists(name):
        return f"hub source {name!r} does not exist on the Hugging Face Hub"
    return None


def check_recipe(recipe: DataRecipe, rules: SourceRules) -> list[str]:
    """One message per source of `recipe` that may not be used."""
    return [f"data.sources[{i}]: {why}" for i, s in enumerate(recipe.sources)
            if (why := check_source(s, rules)) is not None]
