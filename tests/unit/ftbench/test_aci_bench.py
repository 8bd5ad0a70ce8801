"""ACI-Bench: CSV row mapping, split files, extraction and the ROUGE-1 aggregate."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.aci_bench.task import TEST_SETS, AciBenchTask, to_example
from ftbench.base import Example

FIXTURE = Path(__file__).parents[3] / "ftbench" / "aci_bench" / "fixture"


@pytest.fixture
def task() -> AciBenchTask:
    return get_task("aci_bench", source="fixture")


def test_fixture_rows_map_to_examples(task: AciBenchTask) -> None:
    train = task.load(Split.TRAIN)
    first = train[0]
    assert first.id == "D2N001" and first.kind == "aci"
    assert first.question.startswith("[doctor] good morning , mr. hale .")
    assert "\n[patient] my left ankle" in first.question            # multi-line quoted CSV field
    assert first.answer.startswith("CHIEF COMPLAINT\n\nLeft ankle injury.")
    assert first.meta == {"source_file": "train"}
    assert [e.kind for e in train] == ["aci", "aci", "virtassist", "virtassist", "virtscribe", "virtscribe"]
    assert [e.id for e in task.load(Split.DEV)][:2] == ["D2N068", "D2N069"]


def test_test_split_joins_the_three_challenge_sets(task: AciBenchTask) -> None:
    test = task.load(Split.TEST)
    assert [e.meta["source_file"] for e in test] == [s for s in TEST_SETS for _ in range(2)]
    only_b = get_task("aci_bench", source="fixture", test_sets=("clinicalnlp_taskB_test1",))
    assert [e.id for e in only_b.load(Split.TEST)] == ["D2N088", "D2N089"]
    with pytest.raises(ValueError, match="test_sets"):
        get_task("aci_bench", source="fixture", test_sets=("nope",))


def test_row_mapping_tolerates_a_bom_and_padding() -> None:
    row = {"\ufeffdataset": "VirtScribe ", "encounter_id": " D2N200", "dialogue": " [doctor] hi .\n",
           "note": "CC: x \n"}
    assert to_example(row, "valid") == Example(id="D2N200", question="[doctor] hi .", answer="CC: x",
                                               kind="virtscribe", meta={"source_file": "valid"})


@pytest.mark.parametrize(("completion", "expected"), [
    ("CHIEF COMPLAINT\n\nCough.", "CHIEF COMPLAINT\n\nCough."),
    ("  \nNote: CHIEF COMPLAINT\nCough.\n\n", "CHIEF COMPLAINT\nCough."),
    ("Clinical note:\nHPI: cough.", "HPI: cough."),
    ("", ""),
    ("   \n", ""),
])
def test_extract(task: AciBenchTask, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_aggregate_is_the_mean_of_per_note_rouge1(task: AciBenchTask) -> None:
    examples = [Example(id=str(i), question="q", answer="Left ankle sprain.") for i in range(3)]
    # reference tokens: left ankle sprain. "ankle sprain": P=1, R=2/3, F=0.8.
    # "right ankle": P=1/2, R=1/3, F=0.4. "": 0.
    predictions = ["ankle sprain", "right ankle", ""]
    assert [round(task.score(p, e), 6) for p, e in zip(predictions, examples, strict=False)] == [0.8, 0.4, 0.0]
    assert task.aggregate(predictions, examples) == pytest.approx(0.4)


def test_rouge_uses_rouge_score_tokenizer_without_stemming(task: AciBenchTask) -> None:
    example = Example(id="x", question="q", answer="Patient REPORTS coughing; denies fever.")
    assert task.score("patient reports coughing denies fever", example) == pytest.approx(1.0)
    assert task.score("patient report cough deny fevers", example) == pytest.approx(0.2)   # only "patient"


def test_hub_source_reads_published_files_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FIXTURE / "challenge_data", tmp_path / "aci_bench" / "challenge_data")
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    real = get_task("aci_bench")
    fixture = get_task("aci_bench", source="fixture")
    assert [e.id for e in real.load(Split.DEV)] == [e.id for e in fixture.load(Split.DEV)]


def test_hub_source_offline_names_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="wyim/aci-bench"):
        get_task("aci_bench").load(Split.TRAIN)
