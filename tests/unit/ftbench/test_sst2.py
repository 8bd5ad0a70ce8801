"""sst2: fixture mapping, split carving, answer extraction, accuracy, offline failure."""
from __future__ import annotations

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example


@pytest.fixture
def task():
    return get_task("sst2", source="fixture")


def test_fixture_rows_map_to_examples(task) -> None:
    test = task.load(Split.TEST)
    assert len(test) == 8
    assert test[0] == Example(id="validation-0", question="a clever , big-hearted comedy that rarely misses its mark .",
                              answer="positive")
    assert test[1].answer == "negative"


def test_dev_is_carved_from_train_without_overlap(task) -> None:
    train, dev = task.load(Split.TRAIN), task.load(Split.DEV)
    assert len(dev) == 3 and len(train) == 9
    assert {e.id for e in train}.isdisjoint(e.id for e in dev)
    assert all(e.id.startswith("train-") for e in train + dev)
    assert [e.id for e in dev] == [e.id for e in get_task("sst2", source="fixture").load(Split.DEV)]


@pytest.mark.parametrize("completion, expected", [
    ("positive", "positive"),
    ("Negative.", "negative"),
    ("The reviewer sounds pleased, so the sentiment is POSITIVE", "positive"),
    ("It is not positive at all; the label is negative", "negative"),
    ("I cannot tell.", ""),
    ("", ""),
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_aggregate_is_accuracy(task) -> None:
    examples = task.load(Split.TEST)[:4]   # positive, negative, positive, negative
    predictions = ["positive", "positive", "", "negative"]
    assert [task.score(p, e) for p, e in zip(predictions, examples, strict=False)] == [1.0, 0.0, 0.0, 1.0]
    assert task.aggregate(predictions, examples) == pytest.approx(0.5)


def test_unlabelled_rows_are_refused() -> None:
    from ftbench.sst2.task import to_example

    with pytest.raises(ValueError, match="no gold label"):
        to_example({"idx": 3, "sentence": "hidden", "label": -1}, "test")


def test_hub_offline_raises_source_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="stanfordnlp/sst2"):
        get_task("sst2").load(Split.TEST)
