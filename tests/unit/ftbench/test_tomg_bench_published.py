"""TOMG-Bench's released predictions, scored by ftbench, give the leaderboard's published Acc-bar.

Fixture: `data/tomg_released/` (see its README): the 9 legacy test sets (the columns the
scorer reads) and the released outputs of Galactica-125M tuned on OpenMolIns-large, the
leaderboard row "OpenMolIns-large (Galactica-125M)", Acc-bar 39.28 (2 decimals, asserted so).

The figure depends on the RDKit release. RDKit 2024.09 changed its valence model: a carbocation
with four neighbours (`CC[C+](C)(C)C`, frequent in these outputs) parsed before and is rejected
since, so some answers that were valid (and successful) for the authors are invalid now. With
RDKit 2023.09.6, 2024.03.5 or 2024.03.6 the mean is 39.2756 (published 39.28); with 2024.09.1
and later it is 38.7622. ftbench matches a transcription of the official evaluate.py row for row
under both. The `chem` extra pins RDKit < 2024.09 where a wheel exists (Python <= 3.12); with a
newer RDKit the gap is an expected failure (strict: a pass there needs a look).
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest

from ftbench import get_task
from ftbench.base import Example
from ftbench.tomg_bench.task import KINDS, config_name, to_example

rdkit = pytest.importorskip("rdkit")  # ftbench imports RDKit lazily

DATA = Path(__file__).with_name("data") / "tomg_released"
# model column in the fixture -> the leaderboard's Acc-bar (%), as published (README, commit 692f6b1)
PUBLISHED = {"galactica-125M-large": 39.28}
OLD_VALENCE = tuple(int(p) for p in rdkit.__version__.split(".")[:2]) < (2024, 9)


def released(model: str) -> tuple[list[str], list[Example]]:
    """The model's outputs and the test examples, the 9 subtasks in order."""
    predictions: list[str] = []
    examples: list[Example] = []
    for kind in KINDS:
        config = config_name(kind)
        text = gzip.decompress((DATA / f"{config}.csv.gz").read_bytes()).decode("utf-8")
        for i, row in enumerate(csv.DictReader(io.StringIO(text))):
            row.setdefault("Instruction", "")  # kept only for MolOpt, where it sets the direction
            predictions.append(row[model])
            examples.append(to_example(row, kind, f"test-{config}-{i:05d}"))
    return predictions, examples


def test_fixture_has_all_rows() -> None:
    predictions, examples = released(next(iter(PUBLISHED)))
    assert len(examples) == len(predictions) == 9 * 5000


@pytest.mark.xfail(not OLD_VALENCE, strict=True,
                   reason=f"RDKit {rdkit.__version__} (>= 2024.09) rejects four-connected [C+] that the authors' "
                          "RDKit accepted: 38.76 here vs 39.28 published (see module docstring)")
@pytest.mark.parametrize("model", list(PUBLISHED))
def test_published_acc_bar(model: str) -> None:
    predictions, examples = released(model)
    mean = get_task("tomg_bench", source="fixture").aggregate(predictions, examples)
    assert round(100 * mean, 2) == PUBLISHED[model]
