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
    ({"metric": "bleu"}, ValueError,
     "metric='bleu' is not accepted; choose one of accuracy, exact_match, macro_f1, rouge1"),
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
    with pytest.raises(ValueError, match=r"dev='.*empty.jsonl' holds no rows"):
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
    with pytest.raises(ValueError, match=r"train=.* is empty once the 2 row"):
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
    assert [task.score(p, e) for p, e in zip(predictions, examples, strict=False)] == [1.0, 0.0, 1.0, 0.0]


def test_rouge1_by_hand_and_on_non_latin_text(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "a.jsonl", rows(("q1", "the cat sat on the mat")))
    dev = write_jsonl(tmp_path / "b.jsonl", rows(("q2", "the cat sat")))
    test = write_jsonl(tmp_path / "c.jsonl", rows(("q3", "猫 が 座った")))
    task = get_task("custom", train=train, dev=dev, test=test, metric="rouge1", description="Summarize.")
    gold = task.load(Split.DEV)[0]
    assert task.score("the cat", gold) == pytest.approx(0.8)   # P = 1, R = 2/3
    assert task.aggregate(["the cat", "zzqx vvkp"], [gold, gold]) == pytest.approx(0.4)
    assert task.score("猫 が 座った", task.load(Split.TEST)[0]) == 1.0


# --- Hydra wiring: task keys become options, checked before anything runs --------------------

def custom_config(files: dict[str, str], **extra: object) -> dict:
    return {"task": {"name": "custom", **files, "description": DESCRIPTION, "options": {"source": "files"},
                     "reference_score": None, **extra}}


def test_task_keys_become_options_with_absolute_paths(files: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from trex.config import from_dict

    monkeypatch.chdir(tmp_path)
    cfg = from_dict(custom_config({"train": "train.jsonl", "dev": files["dev"], "test": files["test"]},
                                  labels=["positive", "negative"]), ["custom"])
    assert cfg.task.options == {"source": "files", "train": str(tmp_path / "train.jsonl"), "dev": files["dev"],
                                "test": files["test"], "description": DESCRIPTION, "labels": ["positive", "negative"]}


@pytest.mark.parametrize("extra, message", [
    ({"trian": "x.jsonl"}, "unknown option(s) task.trian for task 'custom'; accepted: description, dev, "
                           "input_column, labels, metric, output_column, source, test, train"),
    ({"version": "2.0"}, "task.version cannot be set"),
    ({"metric": "bleu"}, "task 'custom': metric='bleu' is not accepted; choose one of accuracy"),
    ({"test": "missing.jsonl"}, "task 'custom': test='missing.jsonl' not found"),
])
def test_bad_task_options_are_config_errors(files: dict[str, str], extra: dict, message: str) -> None:
    from trex.config import ConfigError, from_dict

    with pytest.raises(ConfigError) as err:
        from_dict(custom_config(files, **extra), ["custom"])
    assert message in str(err.value)


def test_builtin_task_option_typo_names_the_accepted_ones() -> None:
    from trex.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match=r"task.trian_size for task 'math'; accepted: dev_size, metric, source"):
        from_dict({"task": {"name": "math", "options": {"trian_size": 3}}}, ["math"])


def test_resume_compares_merged_task_options(files: dict[str, str], tmp_path: Path) -> None:
    from dataclasses import asdict

    from trex.config import ConfigError, from_dict, resume_config

    saved = asdict(from_dict(custom_config(files), ["custom"]))
    same = from_dict(custom_config(files), ["custom"])
    assert resume_config(saved, {**asdict(same), "resume": "r"}, ["+task", "task.train"], ["custom"]).task == same.task
    train2 = write_jsonl(tmp_path / "train2.jsonl", rows(("fine", "positive")))
    other = asdict(from_dict(custom_config({**files, "train": train2}), ["custom"]))
    with pytest.raises(ConfigError, match=r"task.options.train"):
        resume_config(saved, {**other, "resume": "r"}, ["task.train"], ["custom"])


def run_launch(*args: str, cwd: Path):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "trex.launch", "+task=custom", *args], cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120)


def test_cli_missing_file_exits_2_before_writing(files: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = run_launch("task.train=nowhere.jsonl", f"task.dev={files['dev']}", f"task.test={files['test']}",
                      f"task.description={DESCRIPTION}", f"run_dir={work / 'runs'}", cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert "task 'custom': train='nowhere.jsonl' not found" in proc.stderr
    assert list(work.iterdir()) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="stops at the vLLM check, which needs no GPU")
def test_cli_valid_custom_task_gets_past_config_validation(tmp_path: Path) -> None:
    """A valid custom task passes validation and the task's data check; the run then stops at the
    next check (vLLM engine on a machine without a GPU), before anything is written."""
    fixture = Path(__file__).parents[2] / "ftbench" / "custom" / "fixture"
    for name in ("train", "dev", "test"):
        (tmp_path / f"{name}.jsonl").write_text((fixture / f"{name}.jsonl").read_text())
    proc = run_launch("task.train=train.jsonl", "task.dev=dev.jsonl", "task.test=test.jsonl",
                      "task.metric=macro_f1", 'task.description="Route messages: billing, shipping or technical."',
                      "task.labels=[billing,shipping,technical]", "search.max_nodes=1", "tracker=none",
                      "executor.engine=vllm", f"run_dir={tmp_path / 'runs'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "executor.engine=vllm" in proc.stderr and "task" not in proc.stderr.split("executor.engine=vllm")[0]
    assert not (tmp_path / "runs").exists()
