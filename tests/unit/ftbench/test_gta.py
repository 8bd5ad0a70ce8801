"""GTA step-by-step task: row mapping, split modes, call extraction, ToolAcc and the offline hub error."""
from __future__ import annotations

import json

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.gta.task import DEV_QUERIES, FIXTURE_DEV_QUERIES, canonical_call, category, step_examples


@pytest.fixture(scope="module")
def task():
    return get_task("gta", source="fixture")


def _all_examples(task) -> list:
    return [e for split in Split for e in task.load(split)]


def test_fixture_rows_map_to_step_examples(task) -> None:
    rows = json.loads((task._path()).read_text(encoding="utf-8"))
    steps = step_examples("0", rows["0"])
    assert [e.id for e in steps] == ["gta-0-step1", "gta-0-step2"]
    first, second = steps
    assert first.answer == '{"arguments": {"image": "image/image_1.jpg"}, "name": "OCR"}'
    assert first.kind == "perception" and first.meta == {"query_id": "0", "tool": "OCR"}
    assert first.solution == "I need the prices printed on the receipt."
    assert first.question.startswith("Query: The receipt shows what I bought at the bakery.")
    assert "- image/image_1.jpg (image)" in first.question and "(none yet)" in first.question
    assert second.answer == canonical_call("Calculator", {"expression": "2.50+3.20+4.10"})
    assert second.kind == "logic"
    assert 'Action: {"arguments": {"image": "image/image_1.jpg"}, "name": "OCR"}' in second.question
    assert "Observation: (10, 12, 200, 30) Croissant 2.50" in second.question
    assert "Thought: I need the prices printed on the receipt." in second.question


def test_official_splits_carve_dev_out_of_the_test_set(task) -> None:
    by_split = {s: {e.meta["query_id"] for e in task.load(s)} for s in Split}
    assert task.load(Split.TRAIN) == []                           # GTA publishes no training set
    assert len(by_split[Split.DEV]) == FIXTURE_DEV_QUERIES == 2 and len(by_split[Split.TEST]) == 10
    assert by_split[Split.DEV] | by_split[Split.TEST] == {str(i) for i in range(12)}
    assert not by_split[Split.DEV] & by_split[Split.TEST]
    assert task.load(Split.DEV) == get_task("gta", source="fixture").load(Split.DEV)      # seeded
    assert task.version == "2.1-official-dev2q-seed4230"
    assert get_task("gta").version == f"2.1-official-dev{DEV_QUERIES}q-seed4230" and DEV_QUERIES == 20


def test_carve_mode_keeps_the_old_splits() -> None:
    carved = get_task("gta", source="fixture", split_mode="carve")
    by_split = {s: {e.meta["query_id"] for e in carved.load(s)} for s in Split}
    assert sum(len(q) for q in by_split.values()) == 12
    assert (len(by_split[Split.TEST]), len(by_split[Split.DEV]), len(by_split[Split.TRAIN])) == (4, 1, 7)
    assert not (by_split[Split.TRAIN] & by_split[Split.TEST]) and not (by_split[Split.DEV] & by_split[Split.TEST])
    assert len(_all_examples(carved)) == 24
    assert carved.load(Split.TEST) == carved.load(Split.TEST) and carved.version == "2.1-carve"


def test_unknown_split_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="split_mode='random' is not one of official, carve"):
        get_task("gta", split_mode="random")


def test_category_of_tools() -> None:
    assert category("TextToImage") == "creativity" and category("GoogleSearch") == "operation"
    assert category("NoSuchTool") == ""


LENIENT_ONLY = [   # GTA's ReAct reader has no counterpart for these: no "Action Input", other key names
    ('{"function": {"name": "Plot", "arguments": "{\\"command\\": \\"x\\"}"}}',
     canonical_call("Plot", {"command": "x"})),
    ('{"tool": "Solver", "args": {"command": "y"}}', canonical_call("Solver", {"command": "y"})),
    ('{"name": "OCR"}', canonical_call("OCR", {})),
    ('{"name": "OCR", "arguments": {}}\nFinal Answer: 3 apples', canonical_call("OCR", {})),
]


@pytest.mark.parametrize("completion, expected", [
    ('{"name": "OCR", "arguments": {"image": "a.jpg"}}', canonical_call("OCR", {"image": "a.jpg"})),
    ('Thought: read it {not json}\nAction: ```json\n{"name":"OCR","arguments":{"image":"a.jpg"}}\n```',
     canonical_call("OCR", {"image": "a.jpg"})),
    ('first {"name": "OCR", "arguments": {}} then {"name": "Calculator", "arguments": {"expression": "1+1"}}',
     canonical_call("Calculator", {"expression": "1+1"})),
    ('{"name": " OCR ", "arguments": "a.jpg"}', canonical_call("OCR", "a.jpg")),
    ('{"name": "OCR", "arguments": {}} then {"name": "Plot"}', canonical_call("OCR", {})),
    ("I would call OCR on the image.", ""),
    ('{"arguments": {"image": "a.jpg"}}', ""),
    ('{"name": "OCR", "arguments": {"image": ', ""),
    ("", ""),
    *[(completion, "") for completion, _ in LENIENT_ONLY],
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


@pytest.mark.parametrize("completion, expected", LENIENT_ONLY)
def test_lenient_extraction_keeps_the_2_0_reader(completion: str, expected: str) -> None:
    lenient = get_task("gta", source="fixture", extraction="lenient")
    assert lenient.extract(completion) == expected
    assert lenient.version == "2.1-official-dev2q-seed4230+lenient"


def test_unknown_extraction_is_refused() -> None:
    with pytest.raises(ValueError, match="extraction='loose' is not one of official, lenient"):
        get_task("gta", extraction="loose")


def test_a_tool_api_name_counts_as_the_tool_only_under_the_official_rules(task) -> None:
    example = next(e for e in task.load(Split.TEST) if e.meta["tool"] == "OCR")
    arguments = json.loads(example.answer)["arguments"]
    assert task.score(canonical_call("OCR.run", {}), example) == 1.0
    assert task.arguments_match(canonical_call("OCR.run", arguments), example)
    assert task.score(canonical_call("OCR.run.x", {}), example) == 0.0
    assert task.score(canonical_call("ocr", {}), example) == 0.0
    lenient = get_task("gta", source="fixture", extraction="lenient")
    assert lenient.score(canonical_call("OCR.run", {}), example) == 0.0


def test_score_and_arguments_match(task) -> None:
    example = task.load(Split.TEST)[0]
    gold = json.loads(example.answer)
    right_tool_wrong_args = canonical_call(gold["name"], {"image": "elsewhere.jpg"})
    assert task.score(task.extract(example.answer), example) == 1.0
    assert task.score(right_tool_wrong_args, example) == 1.0
    assert not task.arguments_match(right_tool_wrong_args, example)
    assert task.arguments_match(task.extract(example.answer), example)
    assert task.score(canonical_call("NotATool", gold["arguments"]), example) == 0.0
    assert task.score("not json", example) == 0.0


def test_aggregate_by_hand(task) -> None:
    examples = task.load(Split.TEST)[:4]
    names = [json.loads(e.answer)["name"] for e in examples]
    predictions = [canonical_call(names[0], {}), canonical_call("Wrong", {}), "", canonical_call(names[3], {"x": 1})]
    assert task.aggregate(predictions, examples) == pytest.approx(2 / 4)
    assert task.aggregate([], []) == 0.0


def test_reasoning_target_carries_the_thought(task) -> None:
    example = task.load(Split.DEV)[0]
    completion = task.target(example, reasoning=True)
    assert completion.startswith("Thought: ") and example.solution in completion
    assert task.extract(completion) == example.answer


def test_hub_source_offline_names_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="Jize1/GTA"):
        get_task("gta").load(Split.TEST)
