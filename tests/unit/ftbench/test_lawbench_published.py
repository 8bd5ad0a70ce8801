"""LawBench's released model predictions, scored by ftbench, give LawBench's published per-task figures.

The data is LawBench's own (github:open-compass/LawBench, Apache-2.0; checked at commit
e30981bb3ff54c41571f222e0b23e92d27375388, 2023-11-13). By default the tests read the subset
bundled in data/lawbench_released/ (GPT-4's predictions for all 18 sub-tasks that have them, cut to
the fields scored, and ChERRANT's tables cut to what those texts look up; see its README and
build.py). Set $LAWBENCH_DIR to a full LawBench checkout to check more models:

    predictions/zero_shot/results.csv                 the published figures (task, model_name, score)
    predictions/zero_shot/<model>/<task>.json[.gz]    released predictions {"0": {origin_prompt, prediction, refr}, ...}
    evaluation/utils/data/cilin.txt, confusion_dict.txt   ChERRANT's tables (task 2-1)

$LAWBENCH_MODELS (comma-separated) picks the models, default every model with predictions in the
bundled subset, or GPT4 and qwen-7b-chat-hf in a full checkout. results.csv holds each figure cut
(not rounded) to 16 decimal places (2-1: the 4 decimals the official scorer prints), so that is
the precision asserted. 2-9 and 2-10 have no released predictions.
"""
from __future__ import annotations

import csv
import gzip
import json
import os
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from ftbench import get_task
from ftbench.base import Example
from ftbench.lawbench.task import KINDS, proofread_source

BUNDLED = Path(__file__).resolve().parent / "data" / "lawbench_released"
CHECKOUT_MODELS = ("GPT4", "qwen-7b-chat-hf")
# (model, task) -> why ftbench's figure differs from the published one (an expected failure, strict).
KNOWN_DEVIATIONS: dict[tuple[str, str], str] = {}


def lawbench_dir() -> Path:
    checkout = os.environ.get("LAWBENCH_DIR", "")
    if checkout and not (Path(checkout) / "predictions" / "zero_shot" / "results.csv").is_file():
        raise pytest.UsageError(f"LAWBENCH_DIR={checkout!r} has no predictions/zero_shot/results.csv")
    return Path(checkout) if checkout else BUNDLED


DATA = lawbench_dir()
ZERO_SHOT = DATA / "predictions" / "zero_shot"


def default_models() -> str:
    if DATA == BUNDLED:
        return ",".join(sorted(p.name for p in ZERO_SHOT.iterdir() if p.is_dir()))
    return ",".join(CHECKOUT_MODELS)


MODELS = tuple(m for m in os.environ.get("LAWBENCH_MODELS", default_models()).split(",") if m)


def prediction_file(model: str, kind: str) -> Path | None:
    for name in (f"{kind}.json", f"{kind}.json.gz"):
        if (ZERO_SHOT / model / name).is_file():
            return ZERO_SHOT / model / name
    return None


def published() -> dict[tuple[str, str], float]:
    with (ZERO_SHOT / "results.csv").open(encoding="utf-8") as handle:
        return {(row["model_name"], row["task"]): float(row["score"]) for row in csv.DictReader(handle)}


def cases() -> list:
    figures, out = published(), []
    for model in MODELS:
        for kind in KINDS:
            if prediction_file(model, kind) is not None:
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEVIATIONS[(model, kind)])] \
                    if (model, kind) in KNOWN_DEVIATIONS else []
                out.append(pytest.param(model, kind, figures.get((model, kind)), id=f"{model}-{kind}", marks=marks))
    return out


def test_every_requested_model_has_predictions() -> None:
    cased = {c.values[0] for c in cases()}
    assert cased == set(MODELS), f"no released predictions in {ZERO_SHOT} for {sorted(set(MODELS) - cased)}"
    if DATA == BUNDLED:
        assert len(cases()) == 18, "the bundled subset holds all 18 sub-tasks with released predictions"


def released(model: str, kind: str) -> tuple[list[str], list[Example]]:
    """A released prediction file as (predictions, examples), rows in file order."""
    path = prediction_file(model, kind)
    assert path is not None
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    rows = json.loads(raw.decode("utf-8"))
    predictions, examples = [], []
    for i in range(len(rows)):
        row = rows[str(i)]
        meta = {}
        if kind == "2-1":
            prompt = row["origin_prompt"]
            prompt = prompt[0]["prompt"] if isinstance(prompt, list) else prompt
            meta = {"source": proofread_source(prompt, prompt)}
        predictions.append(row["prediction"])
        examples.append(Example(id=f"{model}-{kind}-{i}", question="", answer=row["refr"], kind=kind, meta=meta))
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
