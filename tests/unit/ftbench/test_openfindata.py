"""OpenFinData: row mapping, split modes, OpenCompass scoring per file and the per-file mean."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example
from ftbench.openfindata.task import KINDS, OpenFinDataTask, to_example

FIXTURE = Path(__file__).parents[3] / "ftbench" / "openfindata" / "fixture"


@pytest.fixture
def task() -> OpenFinDataTask:
    return OpenFinDataTask(source="fixture")


def mc_example(answer: str = "B", file: str = "data_inspection") -> Example:
    return Example(id="x", question="q", answer=answer, kind=file, meta={"file": file})


def kw_example(answer: str = "宁德时代、比亚迪") -> Example:
    return Example(id="y", question="q", answer=answer, kind="entity_recognition", meta={"file": "entity_recognition"})


def test_multiple_choice_row_maps_to_example() -> None:
    row = {"id": 7, "question": "某股票股价为30元，每股收益为1.5元，其市盈率是多少？ ",
           "A": "15倍", "B": "20倍", "C": "30倍", "D": "45倍", "answer": "B"}
    e = to_example(row, "metric_calculation", 3)
    assert e.id == "metric_calculation-003" and e.kind == "metric_calculation" and e.answer == "B"
    assert e.question == "某股票股价为30元，每股收益为1.5元，其市盈率是多少？\nA. 15倍\nB. 20倍\nC. 30倍\nD. 45倍"
    assert e.meta == {"file": "metric_calculation", "source_id": "7"}


def test_entity_row_odd_gold_and_empty_gold() -> None:
    e = to_example({"question": "请列出公司。", "answer": "贵州茅台、五粮液"}, "entity_recognition", 0)
    assert (e.question, e.answer, e.meta) == ("请列出公司。", "贵州茅台、五粮液", {"file": "entity_recognition"})
    odd = to_example({"question": "q", "A": "a", "B": "b", "C": "c", "answer": "C、A"}, "financial_facts", 0)
    assert odd.answer == "C、A"                      # kept, as OpenCompass keeps it: no reply can match it
    assert OpenFinDataTask(source="fixture").score("答案：C、A", odd) == 0.0
    with pytest.raises(ValueError, match="empty answer"):
        to_example({"question": "q", "A": "a", "B": "b", "C": "c", "answer": " "}, "financial_facts", 0)


def test_official_split_mode_is_the_default(task: OpenFinDataTask) -> None:
    train, dev, test = (task.load(s) for s in Split)
    assert train == [] and (len(dev), len(test)) == (9, 27)            # 36 fixture items, dev_size 9
    assert not {e.id for e in dev} & {e.id for e in test} and len({e.id for e in dev + test}) == 36
    assert [e.id for e in dev] == [e.id for e in get_task("openfindata", source="fixture").load(Split.DEV)]
    assert {e.id for e in get_task("openfindata", source="fixture", seed=7).load(Split.DEV)} != {e.id for e in dev}
    assert task.version == "2.0/official-dev9-seed2024"
    assert get_task("openfindata").version == "2.0/official-dev50-seed2024"      # the real release: 600 / 50 / 0
    assert len(get_task("openfindata", source="fixture", dev_size=4).load(Split.TEST)) == 32


def test_carve_split_mode_is_opt_in_and_per_file() -> None:
    task = get_task("openfindata", source="fixture", split_mode="carve")
    train, dev, test = (task.load(s) for s in Split)
    assert (len(train), len(dev), len(test)) == (9, 9, 18)             # 4 items a file: 1 / 1 / 2
    assert [e.kind for e in test[::2]] == list(KINDS)
    ids = [{e.id for e in split} for split in (train, dev, test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert task.version == "2.0/carve-test0.5-dev0.2-seed2024"


def test_unknown_split_mode_and_extraction_are_refused() -> None:
    with pytest.raises(ValueError, match="split_mode='random'"):
        get_task("openfindata", source="fixture", split_mode="random")
    with pytest.raises(ValueError, match="extraction"):
        get_task("openfindata", source="fixture", extraction="first")
    with pytest.raises(ValueError, match="too few"):
        get_task("openfindata", source="fixture", dev_size=50).load(Split.TEST)


@pytest.mark.parametrize(("completion", "gold", "expected"), [
    ("答案：B", "B", 1.0),
    ("B. 20倍", "B", 1.0),
    ("根据计算，市盈率为20倍，因此答案是B。", "B", 1.0),
    ("分析如下……答案为（D）", "D", 1.0),
    ("先排除A，再看B……最终答案：D", "D", 1.0),
    ("C. 文一科技的流通市值和总市值可能有误", "C", 1.0),
    ("我认为是B，ROE偏低", "B", 0.0),                      # the last capital is the E of ROE
    ("答案：b", "B", 0.0),                                 # lower case is no capital
    ("答案：Ｂ", "B", 0.0),                                # a full-width capital is itself, not "B"
    ("The answer is E.", "E", 1.0),
    ("看不出来", "B", 0.0),
    ("", "B", 0.0),
])
def test_multiple_choice_follows_last_capital(task: OpenFinDataTask, completion: str, gold: str,
                                              expected: float) -> None:
    assert task.score(task.extract(completion), mc_example(gold)) == expected


def test_answer_phrase_extraction_is_a_named_option() -> None:
    lenient = get_task("openfindata", source="fixture", extraction="answer_phrase")
    assert lenient.version.endswith("+answer_phrase")
    assert lenient.extract("我认为答案是B，ROE偏低") == "B" and lenient.score("B", mc_example("B")) == 1.0
    assert lenient.extract("宁德时代、比亚迪") == "宁德时代、比亚迪"      # no phrase: the reply itself
    assert get_task("openfindata", source="fixture").extract("我认为答案是B，ROE偏低") == "我认为答案是B，ROE偏低"


def test_keyword_scoring_follows_opencompass(task: OpenFinDataTask) -> None:
    e = kw_example()
    assert task.score("宁德时代（300750.SZ）、比亚迪、隆基绿能", e) == 1.0
    assert task.score("宁德时代", e) == 0.0
    assert task.score(task.extract("答案：宁德时代、比亚迪"), e) == 1.0


def test_aggregate_is_the_mean_of_per_file_accuracies(task: OpenFinDataTask) -> None:
    examples = [*(mc_example(g) for g in "BACD"), kw_example(), kw_example("隆基绿能")]
    completions = ["答案：B", "答案：C", "答案：C", "答案：A", "答案：宁德时代、比亚迪", "zzqx vvkp"]
    predictions = [task.extract(c) for c in completions]
    assert task.aggregate(predictions, examples) == pytest.approx((2 / 4 + 1 / 2) / 2)
    assert task.aggregate(predictions[:5], examples[:5]) == pytest.approx((2 / 4 + 1) / 2)   # pooled would be 3/5
    assert task.aggregate(predictions[:4], examples[:4]) == pytest.approx(2 / 4)
    assert task.aggregate([], []) == 0.0


def test_hub_source_reads_release_files_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FIXTURE / "openfindata_release", tmp_path / "openfindata" / "openfindata_release")
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    real = get_task("openfindata", dev_size=9).load(Split.DEV)
    assert [e.id for e in real] == [e.id for e in get_task("openfindata", source="fixture").load(Split.DEV)]


def test_hub_source_offline_names_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="open-compass/OpenFinData"):
        get_task("openfindata").load(Split.TEST)
