"""Where a task's rows come from: the real source (Hub or published files) or its hand-written fixture.

Every real task takes `source="hub"` (default: the real data, from the Hugging Face Hub or the
benchmark's files under `data_dir`) or `source="fixture"` (the small hand-written sample in
the source's exact format that ships in the task's `fixture/` folder, for tests and offline
smoke runs). Splits a source lacks are carved from another split with a fixed seed.
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from ftbench.base import Example, SourceUnavailable
from ftbench.offline import offline_variable

SOURCES = ("hub", "fixture")
T = TypeVar("T")


def check_source(task: str, source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"{task}: source={source!r} is not one of {SOURCES}")


def data_root() -> Path:
    """Where downloaded benchmark files live: $FTBENCH_DATA, else ~/.cache/ftbench."""
    return Path(os.environ.get("FTBENCH_DATA", Path.home() / ".cache" / "ftbench")).expanduser()


def fixture_path(module_file: str, name: str) -> Path:
    """A file in the `fixture/` folder beside the task module."""
    path = Path(module_file).with_name("fixture") / name
    if not path.is_file():
        raise FileNotFoundError(f"fixture {path} is missing")
    return path


class UnreadableFile(ValueError):
    """A data file that does not parse; the message names the file, where (e.g. "line 3") and why."""

    def __init__(self, path: Path | str, where: str, detail: str) -> None:
        super().__init__(f"{path}{' ' + where if where else ''}: {detail}")
        self.path, self.where, self.detail = str(path), where, detail


def _json_error(err: json.JSONDecodeError) -> str:
    return f"not valid JSON ({err.msg} at column {err.colno})"


def _jsonl_rows(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UnreadableFile(path, f"line {number}", _json_error(err)) from None
        if not isinstance(row, dict):
            raise UnreadableFile(path, f"line {number}", f"a JSON {type(row).__name__}, not an object of fields")
        rows.append(row)
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .json (a list, or {"data": [...]}), .csv or .tsv file.
    Raises UnreadableFile naming the file (and the line) that does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableFile(path, "", f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    if path.suffix == ".jsonl":
        return _jsonl_rows(path, text)
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UnreadableFile(path, f"line {err.lineno}", _json_error(err)) from None
        return data["data"] if isinstance(data, dict) and "data" in data else data
    if path.suffix in (".csv", ".tsv"):
        import csv
        import io

        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if path.suffix == ".tsv" else ",")
        try:
            return list(reader)
        except csv.Error as err:
            raise UnreadableFile(path, f"line {reader.line_num}",
                                 f"not valid {path.suffix[1:].upper()} ({err})") from None
    raise ValueError(f"cannot read {path}: expected .jsonl, .json, .csv or .tsv")


def hub_rows(task: str, repo_id: str, split: str, config: str | None = None,
             revision: str | None = None) -> list[dict[str, Any]]:
    """Rows of one split of a Hub dataset; fails fast with a clear message when offline."""
    hint = f"run with network once, or use {task} with source=fixture for the bundled sample"
    if offline := offline_variable():
        cached = _try_cached(repo_id, split, config, revision)
        if cached is not None:
            return cached
        raise SourceUnavailable(f"{task}: needs {repo_id!r} ({split}) from the Hugging Face Hub, but "
                                f"{offline}=1 and it is not cached; {hint}")
    from datasets import load_dataset

    try:
        return load_dataset(repo_id, config, split=split, revision=revision).to_list()
    except Exception as err:   # noqa: BLE001 - any download failure means the source is unavailable
        raise SourceUnavailable(f"{task}: could not load {repo_id!r} ({split}) from the Hub: "
                                f"{type(err).__name__}: {err}; {hint}") from None


def _try_cached(repo_id: str, split: str, config: str | None, revision: str | None) -> list[dict[str, Any]] | None:
    from datasets import load_dataset

    try:
        return load_dataset(repo_id, config, split=split, revision=revision).to_list()
    except Exception:   # noqa: BLE001 - not in the local cache
        return None


def local_file(task: str, relative: str, url: str) -> Path:
    """A published benchmark file expected under data_root()/<task>/; clear error if absent."""
    path = data_root() / task / relative
    if not path.is_file():
        raise SourceUnavailable(f"{task}: {path} not found; download it from {url} into {path.parent} "
                                f"(or set FTBENCH_DATA), or use source=fixture for the bundled sample")
    return path


def carve(items: Sequence[T], held_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split `items` into (kept, held) with a fixed seed; held gets round(len * fraction), at least 1."""
    if not 0 < held_fraction < 1:
        raise ValueError(f"held_fraction must be in (0, 1), got {held_fraction}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_held = max(1, round(len(items) * held_fraction)) if len(items) > 1 else 0
    held = set(order[:n_held])
    return ([x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held])


SPLIT_MODES = ("official", "carve")
OFFICIAL_DEV_SIZE = 50     # dev carved out of a test-only benchmark's test set in split_mode=official


def check_split_mode(task: str, mode: str) -> None:
    if mode not in SPLIT_MODES:
        raise ValueError(f"{task}: split_mode={mode!r} is not one of {', '.join(SPLIT_MODES)} (official: the whole "
                         "official test set is the test split; carve: train/dev/test carved from it, opt-in)")


def official_splits(test: Sequence[T], seed: int, dev: Sequence[T] | None = None,
                    dev_size: int = OFFICIAL_DEV_SIZE) -> dict[str, list[T]]:
    """split_mode=official for a benchmark that publishes a test set and no training split:
    test is the official test set, dev the official validation set when there is one, else
    `dev_size` items carved from test with `seed` (and removed from it; the count is in the
    task's version). Train is empty: training data comes from sources the Researcher finds
    (Hub, files, synthesis), never silently from the test set."""
    if dev is not None:
        return {"train": [], "dev": list(dev), "test": list(test)}
    if len(test) <= dev_size:
        raise ValueError(f"the official test set has {len(test)} items, too few to carve a dev set of {dev_size}")
    rest, held = carve(test, dev_size / len(test), seed)
    return {"train": [], "dev": held, "test": rest}


def drop_held_out(train: list[Example], *held_out: list[Example]) -> list[Example]:
    """`train` without the examples whose question also occurs in a held-out split."""
    held = {e.question for split in held_out for e in split}
    return [e for e in train if e.question not in held]


def read_text(module_file: str, name: str) -> str:
    """A text file beside the task module (description.md, catalog.md)."""
    return Path(module_file).with_name(name).read_text(encoding="utf-8")


class TaskTexts:
    """Mixin for a task dataclass: `description` and `catalog` from description.md and catalog.md
    beside its module, and its `source` checked on construction (call super().__post_init__())."""

    name: str
    source: str

    def __post_init__(self) -> None:
        check_source(self.name, self.source)

    def _text(self, file: str) -> str:
        import sys

        return read_text(str(sys.modules[type(self).__module__].__file__), file)

    @property
    def description(self) -> str:
        return self._text("description.md")

    @property
    def catalog(self) -> str:
        return self._text("catalog.md")
