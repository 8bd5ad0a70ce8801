"""The `custom` task: a user's files become a task; bad options fail with messages naming them."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ftbench import Split, get_task, load_for_training

DESCRIPTION = "Say whether a product review is positive or negative."


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def rows(*pairs: tuple[str, str]) -> list[dict]:
    return [{"input": q, "output": a} for q, a in pairs]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return {
        "train": write_jsonl(tmp_path / "train.jsonl", rows(("great value", "positive"), ("broke in a day", "negative"),
                                                             ("love it", "positive"))),
        "dev": write_jsonl(tmp_path / "dev.jsonl", rows(("works fine", "positive"), ("waste of money", "negative"))),
        "test": write_jsonl(tmp_path / "test.jsonl", rows(("very happy", "positive"), ("arrived broken", "negative"))),
    }


def test_fixture_rows_map_to_examples() -> None:
    task = get_task("custom", source="fixture")
    train = task.load(Split.TRAIN)
    assert (train[0].id, train[0].answer) == ("t01", "billing")
    assert train[0].question.startswith("I was charged twice")
    assert [len(task.load(s)) for s in Split] == [9, 6, 6]
    assert (task.name, task.version, task.metric) == ("custom", "1.0", "accuracy")
    assert "Route customer-support messages" in task.description and "dev 6 rows" in task.description


def test_csv_and_parquet_with_other_column_names(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["good", "bad", "fine"], "label": [1, 0, 1]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[:2].assign(text=["nice", "awful"]).to_parquet(tmp_path / "dev.parquet")
    frame.iloc[:2].assign(text=["superb", "dreadful"]).to_parquet(tmp_path / "test.parquet")
    task = get_task("custom", train=str(tmp_path / "train.csv"), dev=str(tmp_path / "dev.parquet"),
                    test=str(tmp_path / "test.parquet"), input_column="text", output_column="label",
                    labels=["0", "1"], description=DESCRIPTION)
    assert [(e.id, e.question, e.answer) for e in task.load(Split.TRAIN)] == [
        ("train-00000", "good", "1"), ("train-00001", "bad", "0"), ("train-00002", "fine", "1")]
    assert [e.answer for e in task.load(Split.TEST)] == ["1", "0"]


@pytest.mark.parametrize("change, error, message", [
    ({"train": "nowhere.jsonl"}, FileNotFoundError, "train='nowhere.jsonl' not found"),
    ({"dev": "notes.txt"}, ValueError, "dev='notes.txt' is not a .jsonl, .json, .csv, .tsv, .parquet file"),
    ({"test": None}, ValueError, "test= is required"),
    ({"metric": "bleu"}, ValueError, "metric='bleu' is not accepted; choose one of accuracy, exact_match, macro_f1, rouge1"),
    ({"input_column": "text"}, ValueError, "has no column 'text' (row 0 has: input, output)"),
    ({"description": " "}, ValueError, "description= is required"),
    ({"labels": ["positive"]}, ValueError, "output(s) 'negative' not in labels (positive)"),
    ({"source": "hub"}, ValueError, "source='hub'"),
])
def test_bad_options_are_named(files: dict[str, str], change: dict, error: type, message: str) -> None:
    with pytest.raises(error) as err:
        get_task("custom", **{**files, "description": DESCRIPTION, **change})
    assert message in str(err.value)


def test_empty_split_and_empty_cell_are_refused(files: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="dev='.*empty.jsonl' holds no rows"):
        get_task("custom", **{**files, "dev": str(tmp_path / "empty.jsonl")}, description=DESCRIPTION)
    blank = write_jsonl(tmp_path / "blank.jsonl", rows(("fine", "")))
    with pytest.raises(ValueError, match="row 0 has an empty 'output'"):
        get_task("custom", **{**files, "train": blank}, description=DESCRIPTION)


def test_held_out_inputs_are_dropped_from_train_and_dev(files: dict[str, str], tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    train = write_jsonl(tmp_path / "t.jsonl", rows(("very  happy", "positive"), ("so so", "negative"),
                                                   ("meh", "negative")))
    dev = write_jsonl(tmp_path / "d.jsonl", rows(("arrived broken", "negative"), ("so so", "negative")))
    with caplog.at_level(logging.WARNING):
        task = get_task("custom", **{**files, "train": train, "dev": dev}, description=DESCRIPTION)
    assert [e.question for e in load_for_training(task)] == ["meh"]
    assert [e.question for e in task.load(Split.DEV)] == ["so so"]
    assert [e.question for e in task.load(Split.TEST)] == ["very happy", "arrived broken"]
    assert "dropped 1 dev row(s)" in caplog.text and "dropped 2 train row(s)" in caplog.text
    with pytest.raises(ValueError, match="train=.* is empty once the 2 row"):
        get_task("custom", **{**files, "train": files["test"]}, description=DESCRIPTION)


def test_classification_extraction_and_scores(files: dict[str, str]) -> None:
    task = get_task("custom", **files, labels="positive, negative", description=DESCRIPTION)
    assert task.labels == ("positive", "negative")
    assert task.extract("  Positive.\nBecause the buyer is happy") == "positive"
    assert task.extract("I think it is positive") == "I think it is positive"
    assert task.extract("") == ""
    example = task.load(Split.TEST)[0]
    assert task.score("positive", example) == 1.0 and task.score("I think it is positive", example) == 0.0
    assert "exactly one of: positive, negative" in task.messages("very happy")[0]["content"]


def test_free_form_accuracy_and_exact_match(files: dict[str, str]) -> None:
    example = get_task("custom", **files, description=DESCRIPTION).load(Split.TEST)[0]
    accuracy = get_task("custom", **files, description=DESCRIPTION)
    exact = get_task("custom", **files, metric="exact_match", description=DESCRIPTION)
    assert accuracy.extract("  Positive \n") == "Positive"
    assert accuracy.score("Positive", example) == 1.0 and exact.score("Positive", example) == 0.0
    assert exact.score(" positive ", example) == 1.0


def test_macro_f1_by_hand_and_with_scikit_learn(files: dict[str, str]) -> None:
    from sklearn.metrics import f1_score

    task = get_task("custom", **files, metric="macro_f1", description=DESCRIPTION)
    assert task.labels == ("negative", "positive")   # every gold output of the three files
    golds = ["positive", "positive", "negative", "negative"]
    examples = [e for e in task.load(Split.TRAIN)[:1] for _ in golds]
    examples = [type(examples[0])(id=str(i), question="q", answer=g) for i, g in enumerate(golds)]
    predictions = ["positive", "negative", "negative", "maybe"]
    # positive: P=1, R=1/2, F=2/3; negative: P=1/2, R=1/2, F=1/2; "maybe" is no label.
    assert task.aggregate(predictions, examples) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert task.aggregate(predictions, examples) == pytest.approx(
        f1_score(golds, predictions, labels=["negative", "positive"], average="macro"))
    assert [task.score(p, e) for p, e in zip(predictions, examples)] == [1.0, 0.0, 1.0, 0.0]


def test_rouge1_by_hand_and_on_non_latin_text(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "a.jsonl", rows(("q1", "the cat sat on the mat")))
    dev = write_jsonl(tmp_path / "b.jsonl", rows(("q2", "the cat sat")))
    test = write_jsonl(tmp_path / "c.jsonl", rows(("q3", "猫 が 座った")))
    task = get_task("custom", train=train, dev=dev, test=test, metric="rouge1", description="Summarize.")
    gold = task.load(Split.DEV)[0]
    assert task.score("the cat", gold) == pytest.approx(0.8)   # P = 1, R = 2/3
    assert task.aggregate(["the cat", "zzqx vvkp"], [gold, gold]) == pytest.approx(0.4)
    assert task.score("猫 が 座った", task.load(Split.TEST)[0]) == 1.0
