"""hoc: abstract grouping, label parsing, macro-F1 against scikit-learn / BLURB, offline failure."""
from __future__ import annotations

import random

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example
from ftbench.hoc.task import HALLMARKS, format_labels, to_examples


@pytest.fixture
def task():
    return get_task("hoc", source="fixture")


def test_sentences_group_into_abstracts(task) -> None:
    train = task.load(Split.TRAIN)
    assert [e.id for e in train] == ["train-90000011", "train-90000012", "train-90000013", "train-90000014"]
    first = train[0]
    assert first.question.startswith("Loss of the retinoblastoma protein releases E2F")
    assert first.question.endswith("continued to divide after growth factor withdrawal .")
    assert first.answer == "evading growth suppressors; sustaining proliferative signaling"
    assert train[3].answer == "none"
    assert task.load(Split.DEV)[1].answer == "none"


def test_sentence_order_and_label_names_are_accepted() -> None:
    rows = [{"document_id": "5_1", "text": "second", "label": ["inducing angiogenesis"]},
            {"document_id": "5_0", "text": "first", "label": [7]}]
    assert to_examples(rows, "test") == [Example(id="test-5", question="first second", answer="inducing angiogenesis")]


@pytest.mark.parametrize("completion, expected", [
    ("Hallmarks: inducing angiogenesis; resisting cell death", "resisting cell death; inducing angiogenesis"),
    ("The abstract is about VEGF.\nHallmarks: Angiogenesis, tumour-promoting inflammation",
     "tumor promoting inflammation; inducing angiogenesis"),
    ("Not about cell death.\nHALLMARKS: none", "none"),
    ("It discusses immune evasion and metastasis.", "activating invasion and metastasis; avoiding immune destruction"),
    ("I am not sure.", ""),
    ("", ""),
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_per_sample_score(task) -> None:
    gold = Example(id="x", question="q", answer="resisting cell death; inducing angiogenesis")
    assert task.score("resisting cell death", gold) == pytest.approx(2 / 3)
    assert task.score("none", Example(id="y", question="q", answer="none")) == 1.0
    assert task.score("", Example(id="y", question="q", answer="none")) == 0.0


def test_aggregate_by_hand(task) -> None:
    examples = [Example(id=str(i), question="q", answer=a) for i, a in enumerate(
        ["inducing angiogenesis", "inducing angiogenesis; resisting cell death", "none", "resisting cell death"])]
    predictions = ["inducing angiogenesis", "inducing angiogenesis", "resisting cell death", "resisting cell death"]
    # angiogenesis: tp 2, fp 0, fn 0 -> F1 1; cell death: tp 1, fp 1, fn 1 -> F1 0.5; others absent
    assert task.aggregate(predictions, examples) == pytest.approx(0.75)
    assert task.aggregate(["none"] * 4, examples) == 0.0


def test_aggregate_matches_blurb_macro_f1_on_random_inputs(task) -> None:
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    rng = random.Random(0)
    for _ in range(20):
        golds = [set(rng.sample(HALLMARKS, rng.randint(0, 3))) for _ in range(60)] + [{h} for h in HALLMARKS]
        preds = [set(rng.sample(HALLMARKS, rng.randint(0, 3))) for _ in golds]
        binarizer = MultiLabelBinarizer(classes=list(HALLMARKS))
        expected = f1_score(binarizer.fit_transform(golds), binarizer.transform(preds), average="macro",
                            zero_division=0)
        examples = [Example(id=str(i), question="q", answer=format_labels(g)) for i, g in enumerate(golds)]
        assert task.aggregate([format_labels(p) for p in preds], examples) == pytest.approx(expected)


def test_hub_offline_raises_source_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="bigbio/hallmarks_of_cancer"):
        get_task("hoc").load(Split.TEST)
