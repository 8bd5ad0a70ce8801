"""cs_bench: row mapping, open-ended exclusion, split modes, options, extraction and format-aware scoring."""
from __future__ import annotations

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example
from ftbench.cs_bench.task import normalize_blank, read_records, to_example


@pytest.fixture
def task():
    return get_task("cs_bench", source="fixture")


def _mc_row(**extra) -> dict:
    row = {"ID": 7, "Split": "Test", "Domain": "Computer Network", "SubDomain": "Transport Layer",
           "Format": "Multiple-choice", "Tag": "Knowledge", "Language": "English", "Question": "Pick one ( )",
           "A": "w", "B": "x", "C": "y", "D": "z", "Answer": "C"}
    return row | extra


def test_rows_map_to_examples() -> None:
    mc = to_example(_mc_row())
    assert mc == Example(id="csbench-7", question="Multiple choice (answer with the letter of the correct option):\n"
                         "Pick one ( )\nA. w\nB. x\nC. y\nD. z", answer="C", kind="computer_network",
                         meta={"format": "Multiple-choice", "tag": "Knowledge", "subdomain": "Transport Layer"})
    truth = to_example(_mc_row(Format="Assertion", Question="TCP is reliable.", Answer=True, Explanation="Because."))
    assert (truth.question, truth.answer, truth.solution) == ("True or false: TCP is reliable.", "true", "Because.")
    assert to_example(_mc_row(Format="Assertion", Answer="False")).answer == "false"
    assert to_example(_mc_row(Format="Open-ended")) is None
    blank = to_example(_mc_row(Format="Fill-in-the-blank", Answer="48"))
    assert blank.meta["source_question"] == "Pick one ( )" and blank.question.endswith(": Pick one ( )")
    with pytest.raises(ValueError, match="unknown format"):
        to_example(_mc_row(Format="Essay"))


def test_official_splits_are_the_official_files(task) -> None:
    test, dev = task.load(Split.TEST), task.load(Split.DEV)
    assert task.load(Split.TRAIN) == []                           # CS-Bench publishes no training set
    assert [e.id for e in test] == [f"csbench-{i}" for i in range(1, 19)]     # all of en_test.json but open-ended
    assert [e.id for e in dev] == [f"csbench-{i}" for i in range(2184, 2191)]  # all of valid.json but open-ended
    assert {e.meta["format"] for e in test + dev} == {"Multiple-choice", "Assertion", "Fill-in-the-blank"}
    assert (task.version, task.metric) == ("2.0-official", "accuracy_mc_tf_fill_exact")


def _all(splits: dict) -> list[Example]:
    return [e for v in splits.values() for e in v]


def test_carve_mode_keeps_the_old_carving() -> None:
    carved = get_task("cs_bench", source="fixture", split_mode="carve")
    splits = {s: carved.load(s) for s in Split}
    assert {s: len(v) for s, v in splits.items()} == {Split.TRAIN: 11, Split.DEV: 2, Split.TEST: 5}
    ids = [e.id for e in _all(splits)]
    assert len(ids) == len(set(ids)) == 18                       # the two open-ended items are gone
    assert all(int(e.id.removeprefix("csbench-")) < 2184 for e in _all(splits))   # valid.json is not read
    assert [e.id for e in carved.load(Split.TEST)] == [e.id for e in splits[Split.TEST]]
    assert carved.version == "2.0-carve" and carved.version != get_task("cs_bench", source="fixture").version


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="split_mode='random'"):
        get_task("cs_bench", split_mode="random")
    with pytest.raises(ValueError, match="judge='gpt4'"):
        get_task("cs_bench", judge="gpt4")
    with pytest.raises(ValueError, match="judge_base_url and judge_model"):
        get_task("cs_bench", judge="llm")
    with pytest.raises(ValueError, match="judge_workers"):
        get_task("cs_bench", judge="llm", judge_base_url="http://h/v1", judge_model="m", judge_workers=0)


def test_open_ended_items_need_the_judge(task) -> None:
    row = _mc_row(Format="Open-ended", Answer="Because it retransmits lost segments.")
    example = to_example(row, open_ended=True)
    assert example.question.startswith("Open question") and example.meta["source_question"] == "Pick one ( )"
    assert task.score("", example) == 0.0
    with pytest.raises(ValueError, match="needs judge=llm"):
        task.score("It retransmits.", example)


def test_reads_json_lines_and_json_lists(tmp_path) -> None:
    lines, listed = tmp_path / "a.json", tmp_path / "b.json"
    lines.write_text('{"ID": 1}\n{"ID": 2}\n')
    listed.write_text('[{"ID": 1}, {"ID": 2}]')
    assert read_records(lines) == read_records(listed) == [{"ID": 1}, {"ID": 2}]


@pytest.mark.parametrize("completion, expected", [
    ("Answer: B", "B"),
    ("Stable sorts keep equal keys in order.\n**Answer:** D.", "** D."),
    ("Let me think.\nThe answer is (C)", "The answer is (C)"),
    ("answer： true", "true"),
    ("", ""),
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_format_aware_scoring(task) -> None:
    mc = to_example(_mc_row())
    assert [task.score(p, mc) for p in ("C", "(C) y", "** C.", "A or C", "c", "")] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    truth = to_example(_mc_row(Format="Assertion", Answer=False))
    assert [task.score(p, truth) for p in ("False.", "false, because ...", "True", "no")] == [1.0, 1.0, 0.0, 0.0]
    blank = to_example(_mc_row(Format="Fill-in-the-blank", Answer="32kb/s"))
    assert [task.score(p, blank) for p in ("32 kb/s.", "\"32KB/s\"", "32", "")] == [1.0, 1.0, 0.0, 0.0]
    assert normalize_blank(" MAC  address. ") == "macaddress"


def test_aggregate_is_accuracy(task) -> None:
    examples = [to_example(_mc_row()), to_example(_mc_row(ID=8, Format="Assertion", Answer=True)),
                to_example(_mc_row(ID=9, Format="Fill-in-the-blank", Answer="48"))]
    assert task.aggregate(["C", "false", "48"], examples) == pytest.approx(2 / 3)


def test_reasoning_target_keeps_the_explanation(task) -> None:
    worked = next(e for e in task.load(Split.TRAIN) + task.load(Split.TEST) if e.solution)
    assert task.target(worked, reasoning=True) == f"{worked.solution}\nAnswer: {worked.answer}"


def test_missing_files_raise_source_unavailable(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match=r"csbench/blob/main/data/en_test\.json"):
        get_task("cs_bench").load(Split.TEST)
    with pytest.raises(SourceUnavailable, match=r"Dataset/CSBench-EN/valid\.json"):
        get_task("cs_bench").load(Split.DEV)
    assert get_task("cs_bench").load(Split.TRAIN) == []     # official mode reads no file for train
