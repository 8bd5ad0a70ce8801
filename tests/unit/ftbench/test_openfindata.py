"""OpenFinData: row mapping, seeded per-file splits, Chinese answer extraction and accuracy."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example
from ftbench.openfindata.task import KINDS, OpenFinDataTask, keywords, to_example

FIXTURE = Path(__file__).parents[3] / "ftbench" / "openfindata" / "fixture"


@pytest.fixture
def task() -> OpenFinDataTask:
    return get_task("openfindata", source="fixture")


def mc_example(answer: str = "B", options: str = "ABCD") -> Example:
    return Example(id="x", question="q", answer=answer, kind="data_inspection",
                   meta={"file": "data_inspection", "options": options})


def kw_example(answer: str = "宁德时代、比亚迪") -> Example:
    return Example(id="y", question="q", answer=answer, kind="entity_recognition", meta={"file": "entity_recognition"})


def test_multiple_choice_row_maps_to_example() -> None:
    row = {"id": 7, "question": "某股票股价为30元，每股收益为1.5元，其市盈率是多少？ ",
           "A": "15倍", "B": "20倍", "C": "30倍", "D": "45倍", "answer": "B"}
    e = to_example(row, "metric_calculation", 3)
    assert e.id == "metric_calculation-003" and e.kind == "metric_calculation" and e.answer == "B"
    assert e.question == "某股票股价为30元，每股收益为1.5元，其市盈率是多少？\nA. 15倍\nB. 20倍\nC. 30倍\nD. 45倍"
    assert e.meta == {"file": "metric_calculation", "source_id": "7", "options": "ABCD"}


def test_entity_row_and_bad_gold() -> None:
    e = to_example({"question": "请列出公司。", "answer": "贵州茅台、五粮液"}, "entity_recognition", 0)
    assert (e.question, e.answer, e.meta) == ("请列出公司。", "贵州茅台、五粮液", {"file": "entity_recognition"})
    assert keywords("贵州茅台、五粮液、") == ["贵州茅台", "五粮液"]
    with pytest.raises(ValueError, match="option letter"):
        to_example({"question": "q", "A": "a", "B": "b", "C": "c", "answer": "D"}, "financial_facts", 0)


def test_fixture_splits_are_carved_per_file_and_disjoint(task: OpenFinDataTask) -> None:
    train, dev, test = (task.load(s) for s in Split)
    assert (len(train), len(dev), len(test)) == (9, 9, 18)             # 4 items a file: 1 / 1 / 2
    assert [e.kind for e in test[::2]] == list(KINDS)
    ids = [{e.id for e in split} for split in (train, dev, test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 36
    assert [e.id for e in test] == [e.id for e in get_task("openfindata", source="fixture").load(Split.TEST)]
    other = get_task("openfindata", source="fixture", seed=7).load(Split.TEST)
    assert {e.id for e in other} != ids[2]


@pytest.mark.parametrize(("completion", "expected"), [
    ("答案：B", "B"),
    ("答案: C", "C"),
    ("根据计算，市盈率为20倍，因此答案是B。", "B"),
    ("分析如下……答案为（D）", "D"),
    ("我选C，因为毛利应为40亿元。", "C"),
    ("应选A选项", "A"),
    ("C. 文一科技的流通市值和总市值可能有误", "C"),
    ("(B) 20倍", "B"),
    ("B", "B"),
    ("The answer is E.", "E"),
    ("答案：C、A", "AC"),
    ("先排除A，再看B……最终答案：D", "D"),
    ("答案：宁德时代、比亚迪", "宁德时代、比亚迪"),
    ("A股公司贵州茅台", "A股公司贵州茅台"),
    ("不确定", "不确定"),
    ("", ""),
])
def test_extract(task: OpenFinDataTask, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_scoring_letters_and_fallback(task: OpenFinDataTask) -> None:
    e = mc_example("B")
    assert task.score("B", e) == 1.0 and task.score("C", e) == 0.0 and task.score("AB", e) == 0.0
    assert task.score(task.extract("我认为是B，ROE偏低"), e) == 1.0      # last lone option letter; ROE is not one
    assert task.score(task.extract("看不出来"), e) == 0.0
    assert task.score(task.extract("只可能是E"), mc_example("B", "ABCD")) == 0.0   # E is not an option here


def test_keyword_scoring_follows_opencompass(task: OpenFinDataTask) -> None:
    e = kw_example()
    assert task.score("宁德时代（300750.SZ）、比亚迪、隆基绿能", e) == 1.0
    assert task.score("宁德时代", e) == 0.0
    assert task.score("", kw_example("、")) == 0.0                      # no gold entity never scores


def _opencompass_kw(prediction: str, reference: str) -> bool:
    """OpenFinDataKWEvaluator's rule, transcribed: every '、' item of the reference is in the prediction."""
    return all(item in prediction for item in reference.split("、"))


def test_keyword_rule_matches_opencompass_on_random_inputs(task: OpenFinDataTask) -> None:
    rng = random.Random(0)
    pool = ["平安", "招商银行", "茅台", "五粮液", "比亚迪", "中信证券", "宁德时代"]
    for _ in range(500):
        gold = "、".join(rng.sample(pool, rng.randint(1, 3)))
        pred = "，".join(rng.sample(pool, rng.randint(0, 5)))
        assert task.score(pred, kw_example(gold)) == float(_opencompass_kw(pred, gold))


def test_accuracy_agrees_with_sklearn_on_random_letters(task: OpenFinDataTask) -> None:
    from sklearn.metrics import accuracy_score

    rng = random.Random(1)
    gold = [rng.choice("ABCD") for _ in range(200)]
    pred = [rng.choice("ABCD") for _ in range(200)]
    examples = [mc_example(g) for g in gold]
    assert task.aggregate(pred, examples) == pytest.approx(accuracy_score(gold, pred))


def test_aggregate_by_hand(task: OpenFinDataTask) -> None:
    examples = [mc_example("B"), mc_example("A"), kw_example(), kw_example("隆基绿能")]
    completions = ["答案：B", "答案：C", "答案：宁德时代、比亚迪", "zzqx vvkp"]
    predictions = [task.extract(c) for c in completions]
    assert task.aggregate(predictions, examples) == pytest.approx(2 / 4)


def test_hub_source_reads_release_files_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FIXTURE / "openfindata_release", tmp_path / "openfindata" / "openfindata_release")
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    real = get_task("openfindata").load(Split.DEV)
    assert [e.id for e in real] == [e.id for e in get_task("openfindata", source="fixture").load(Split.DEV)]


def test_hub_source_offline_names_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="open-compass/OpenFinData"):
        get_task("openfindata").load(Split.TEST)
