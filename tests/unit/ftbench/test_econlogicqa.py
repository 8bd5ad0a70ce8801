"""econlogicqa: fixture mapping, order extraction, exact-sequence accuracy, offline failure."""
from __future__ import annotations

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.econlogicqa.task import normalize_order, to_example


@pytest.fixture
def task():
    return get_task("econlogicqa", source="fixture")


def test_fixture_rows_map_to_examples(task) -> None:
    dev = task.load(Split.DEV)
    assert [e.id for e in dev] == ["val-0000", "val-0001", "val-0002"]
    first = dev[0]
    assert first.answer == "B, C, A, D"
    assert first.question.startswith("A coffee exporter is hit by a drought.")
    assert "\nA. World coffee prices climb.\nB. Rainfall" in first.question
    assert first.question.endswith("D. Roasters raise the prices of their packaged coffee.")
    assert len(task.load(Split.TRAIN)) == 6 and len(task.load(Split.TEST)) == 3


def test_malformed_gold_is_refused() -> None:
    row = {"Question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "Answer": "A, B, B, D"}
    with pytest.raises(ValueError, match="malformed answer"):
        to_example(row, "train", 0)


@pytest.mark.parametrize("completion, expected", [
    ("Answer: C, A, B, D", "C, A, B, D"),
    ("First the demand study... so the order is B -> C -> A -> D.", "B, C, A, D"),
    ("I considered A, B, C, D but the right order is D, C, B, A", "D, C, B, A"),
    ("answer: cabd", ""),            # lower-case letters are not read as labels
    ("CABD", "C, A, B, D"),
    ("A, B, C", ""),
    ("A, A, C, D", ""),
    ("", ""),
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_normalize_order() -> None:
    assert normalize_order(" c,a ,B,d ") == "C, A, B, D"
    assert normalize_order("A, B, C") == ""


def test_aggregate_is_exact_sequence_accuracy(task) -> None:
    examples = task.load(Split.TEST)   # golds: A,B,C,D / A,B,C,D / B,A,C,D
    predictions = ["A, B, C, D", "A, B, D, C", "B, A, C, D"]
    assert [task.score(p, e) for p, e in zip(predictions, examples, strict=False)] == [1.0, 0.0, 1.0]
    assert task.aggregate(predictions, examples) == pytest.approx(2 / 3)


def test_hub_offline_raises_source_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="yinzhu-quan/econ_logic_qa"):
        get_task("econlogicqa").load(Split.DEV)
