"""LawBench's released model predictions, scored by ftbench, give LawBench's published per-task figures.

The data is LawBench's own (github:open-compass/LawBench, Apache-2.0; checked at commit
e30981bb3ff54c41571f222e0b23e92d27375388, 2023-11-13), not bundled here: a LawBench checkout, or
the subset of it below, is looked for at $LAWBENCH_DIR, else at shared/lawbench inside or beside
this repository, and these tests are skipped when none is found.

    predictions/zero_shot/results.csv              the published figures (task, model_name, score)
    predictions/zero_shot/<model>/<task>.json      released predictions {"0": {origin_prompt, prediction, refr}, ...}
    evaluation/utils/data/cilin.txt, confusion_dict.txt   ChERRANT's tables (task 2-1)

$LAWBENCH_MODELS (comma-separated) picks the models, default GPT4 and qwen-7b-chat-hf. results.csv
holds each figure cut (not rounded) to 16 decimal places (2-1: the 4 decimals the official scorer
prints), so that is the precision asserted. 2-9 and 2-10 have no released predictions.
"""
from __future__ import annotations

import csv
import json
import os
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from ftbench import get_task
from ftbench.base import Example
from ftbench.lawbench.task import KINDS, proofread_source

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MODELS = ("GPT4", "qwen-7b-chat-hf")
# (model, task) -> why ftbench's figure differs from the published one (an expected failure, strict).
KNOWN_DEVIATIONS: dict[tuple[str, str], str] = {}


def lawbench_dir() -> Path | None:
    candidates = [os.environ.get("LAWBENCH_DIR", ""), ROOT / "shared" / "lawbench", ROOT.parent / "shared" / "lawbench"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "predictions" / "zero_shot" / "results.csv").is_file():
            return Path(candidate)
    return None


DATA = lawbench_dir()
MODELS = tuple(m for m in os.environ.get("LAWBENCH_MODELS", ",".join(DEFAULT_MODELS)).split(",") if m)


def published() -> dict[tuple[str, str], float]:
    if DATA is None:
        return {}
    with (DATA / "predictions" / "zero_shot" / "results.csv").open(encoding="utf-8") as handle:
        return {(row["model_name"], row["task"]): float(row["score"]) for row in csv.DictReader(handle)}


def cases() -> list:
    figures, out = published(), []
    for model in MODELS:
        for kind in KINDS:
            if DATA is not None and (DATA / "predictions" / "zero_shot" / model / f"{kind}.json").is_file():
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEVIATIONS[(model, kind)])] \
                    if (model, kind) in KNOWN_DEVIATIONS else []
                out.append(pytest.param(model, kind, figures.get((model, kind)), id=f"{model}-{kind}", marks=marks))
    return out or [pytest.param(None, None, None, marks=pytest.mark.skip(
        reason="no LawBench checkout: set LAWBENCH_DIR (see this file's docstring)"))]


def released(model: str, kind: str) -> tuple[list[str], list[Example]]:
    """A released prediction file as (predictions, examples), rows in file order."""
    assert DATA is not None
    rows = json.loads((DATA / "predictions" / "zero_shot" / model / f"{kind}.json").read_text(encoding="utf-8"))
    predictions, examples = [], []
    for i in range(len(rows)):
        row = rows[str(i)]
        prompt = row["origin_prompt"]
        prompt = prompt[0]["prompt"] if isinstance(prompt, list) else prompt
        meta = {"source": proofread_source(prompt, prompt)} if kind == "2-1" else {}
        predictions.append(row["prediction"])
        examples.append(Example(id=f"{model}-{kind}-{i}", question=prompt, answer=row["refr"], kind=kind, meta=meta))
    return predictions, examples


@pytest.fixture(scope="module")
def cherrant_tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An FTBENCH_DATA whose lawbench/cherrant/ is LawBench's evaluation/utils/data."""
    assert DATA is not None
    root = tmp_path_factory.mktemp("ftbench-data")
    (root / "lawbench").mkdir()
    (root / "lawbench" / "cherrant").symlink_to(DATA / "evaluation" / "utils" / "data")
    return root


@pytest.mark.parametrize("model, kind, figure", cases())
def test_released_predictions_reproduce_published_figures(model: str, kind: str, figure: float | None,
                                                          cherrant_tables: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert figure is not None, f"results.csv has no figure for {model} {kind}"
    monkeypatch.setenv("FTBENCH_DATA", str(cherrant_tables))
    task = get_task("lawbench", kinds=(kind,), proofread_tables="official")
    predictions, examples = released(model, kind)
    kept = [(p, e) for p, e in zip(predictions, examples, strict=True) if task.usable(e)]
    ours = task.task_scores([p for p, _ in kept], [e for _, e in kept])[kind]
    assert published_digits(ours) == figure, (model, kind, ours, figure)


def published_digits(value: float) -> float:
    """`value` as results.csv writes it: cut (not rounded) to 16 decimal places."""
    return float(Decimal(repr(value)).quantize(Decimal("1e-16"), rounding=ROUND_DOWN))
