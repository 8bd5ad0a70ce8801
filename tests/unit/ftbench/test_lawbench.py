"""LawBench: row mapping, per-sub-task rules, the hybrid aggregate, metric cross-checks, offline hub."""
from __future__ import annotations

import math
import random

import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import f1_score, fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example
from ftbench.lawbench import metrics
from ftbench.lawbench.task import KINDS, gold_reply, to_example


@pytest.fixture(scope="module")
def task():
    return get_task("lawbench", source="fixture")


def _ex(kind: str, answer: str, source: str = "") -> Example:
    return Example(id=f"t-{kind}", question="q", answer=answer, kind=kind, meta={"source": source} if source else {})


def test_fixture_rows_map_to_examples(task) -> None:
    examples = {e.id: e for s in Split for e in task.load(s)}
    assert len(examples) == 60 and {e.kind for e in examples.values()} == set(KINDS)
    recitation = examples["lawbench-1-1-0000"]
    assert recitation.question == "请写出下列法律条文的具体内容。\n《中华人民共和国示例法》第三条的内容是什么？"
    assert recitation.answer == "答案:国家保护公民依法取得的合法财产，任何组织不得侵占。"
    proofread = examples["lawbench-2-1-0001"]
    assert proofread.meta == {"source": "原告诉请被告支付货款五万元及其利息息。"}
    assert examples["lawbench-2-4-0002"].answer == "债权债务"


def test_to_example_and_gold_replies() -> None:
    row = {"instruction": "抽取实体。", "question": "句子:某甲偷走自行车。",
           "answer": "犯罪嫌疑人:某 甲;被盗物品:自行车"}
    example = to_example("2-6", 7, row)
    assert example.id == "lawbench-2-6-0007" and example.question == "抽取实体。\n句子:某甲偷走自行车。"
    assert gold_reply(example) == "犯罪嫌疑人:某甲\n被盗物品:自行车。"
    assert metrics.sample_score("2-6", gold_reply(example), example.answer) == 1.0
    assert gold_reply(_ex("2-5", "回答:三万元")) == "三万元"
    assert gold_reply(_ex("1-1", "答案:条文")) == "条文"
    assert gold_reply(_ex("3-3", "罪名:盗窃")) == "罪名:盗窃"


@pytest.mark.parametrize("completion, expected", [
    ("  正确答案：B。\n", "正确答案：B。"),
    ("<think>先想想A还是B</think>\n刑期:6个月", "刑期:6个月"),
    ("", ""),
    ("zzqx vvkp", "zzqx vvkp"),
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def test_choice_rules() -> None:
    assert metrics.sample_score("1-2", "答案是B", "正确答案：B。") == 1.0
    assert metrics.sample_score("1-2", "B或者C", "正确答案：B。") == 0.0
    assert metrics.sample_score("3-6", "选B", "正确答案:B") == 1.0
    assert metrics.sample_score("2-8", "[正确答案]C", "[正确答案]C") == 1.0
    assert metrics.sample_score("2-4", "属于劳动纠纷，也涉及合同纠纷", "劳动纠纷") == 0.0
    assert metrics.sample_score("2-2", "争议焦点是利息", "争议焦点类别：利息。") == 1.0


def test_label_set_rules() -> None:
    assert metrics.sample_score("2-3", "类别:准予离婚", "类别:准予离婚、支付抚养费。") == pytest.approx(2 / 3)
    assert metrics.sample_score("2-9", "欺骗;获利;联络", "欺骗;获利") == pytest.approx(0.8)
    # longest match: "合同诈骗" no longer also counts "诈骗"
    assert metrics.sample_score("3-3", "罪名:合同诈骗", "罪名:合同诈骗") == 1.0
    assert metrics.sample_score("3-3", "罪名:诈骗", "罪名:合同诈骗") == 0.0
    assert metrics.sample_score("3-3", "盗窃罪和抢劫罪", "罪名:盗窃;抢劫") == 1.0


def test_article_and_sentence_rules() -> None:
    assert metrics.article_numbers("刑法第二百六十四条、第六十七条") == {264, 67}
    assert metrics.article_numbers("第六十七条第一款") == set()   # official quirk: 第(.*?)款 eats the whole chunk
    assert metrics.sample_score("3-1", "第264条", "法条:刑法第264、67条") == pytest.approx(2 / 3)
    assert metrics.sentence_months("判处有期徒刑三年") == 36
    assert metrics.sentence_months("一年六个月") == 6          # the official rule takes the first "个月"
    assert metrics.sample_score("3-4", "刑期:11个月", "刑期:11个月") == 1.0
    expected = 1 - abs(math.log(7) - math.log(13)) / math.log(216)
    assert metrics.sample_score("3-4", "一年", "刑期:6个月") == pytest.approx(expected)
    assert metrics.sample_score("3-4", "无法判断", "刑期:6个月") == 0.0
    assert metrics.sample_score("3-7", "共计2000元", "上文涉及到的犯罪金额:2000元。") == 1.0
    assert metrics.sample_score("3-7", "共计2000.5元", "上文涉及到的犯罪金额:2000元。") == 0.0


def test_soft_f1_rules() -> None:
    assert metrics.sample_score("2-5", "三万", "回答:三万元") == pytest.approx(0.8)
    assert metrics.sample_score("2-10", "击打;获得", "击打") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert metrics.sample_score("2-6", "犯罪嫌疑人:赵某\n受害人:孙某\n",
                                "犯罪嫌疑人:赵某;地点:车库") == pytest.approx(0.5)


def test_proofreading_f_half() -> None:
    source = "被告人主动投按，如实供述。"
    assert metrics.proofread_counts("被告人主动投案，如实供述。", "被告人主动投案，如实供述。", source) == (1, 0, 0)
    assert metrics.proofread_counts(source, "被告人主动投案，如实供述。", source) == (0, 0, 1)
    assert metrics.sample_score("2-1", source, "被告人主动投案，如实供述。", source) == 0.0
    assert metrics.sample_score("2-1", source, source, source) == 1.0          # nothing to fix, nothing changed
    # corpus: TP=1 (X->丙), FP=1 (己->Y), FN=0 -> P=0.5, R=1 -> F0.5 = 1.25*0.5/(0.125+1)
    refs, sources = ["甲乙丙", "丁戊己"], ["甲乙X", "丁戊己"]
    assert metrics.corpus_score("2-1", ["甲乙丙", "丁戊Y"], refs, sources) == pytest.approx(0.625 / 1.125)
    assert metrics.corpus_score("2-1", ["甲乙X", "丁戊己"], refs, sources) == 0.0


def test_aggregate_by_hand(task) -> None:
    examples = [_ex("1-2", "正确答案：A。"), _ex("1-2", "正确答案：B。"), _ex("3-7", "上文涉及到的犯罪金额:100元。"),
                _ex("3-4", "刑期:6个月"), _ex("3-4", "刑期:12个月")]
    predictions = ["A", "A", "100元", "6个月", "无"]
    imprison = 1 - (0 + math.log(216)) / 2 / math.log(216)
    assert task.task_scores(predictions, examples) == pytest.approx({"1-2": 0.5, "3-7": 1.0, "3-4": imprison})
    assert task.aggregate(predictions, examples) == pytest.approx((0.5 + 1.0 + 0.5) / 3)


def test_rows_the_official_scorer_skips_are_dropped(task) -> None:
    assert not task.usable(_ex("2-2", "争议焦点类别：赔偿。"))
    assert not task.usable(_ex("3-4", "刑期:死刑"))
    assert not task.usable(_ex("2-2", "争议焦点类别：不存在的类别。"))
    assert not task.usable(_ex("2-5", "回答:"))
    assert task.usable(_ex("2-2", "争议焦点类别：违约。"))


def test_kinds_option(task) -> None:
    subset = get_task("lawbench", source="fixture", kinds=("3-7",))
    assert {e.kind for e in subset.load(Split.TRAIN)} == {"3-7"}
    with pytest.raises(ValueError, match="unknown sub-tasks"):
        get_task("lawbench", source="fixture", kinds=("9-9",))


# ---- cross-checks of hand-written metrics against reference implementations ------------------

def test_set_f1_matches_sklearn_samples_f1() -> None:
    rng = random.Random(0)
    labels = list("abcdefgh")
    gold = [set(rng.sample(labels, rng.randint(1, 4))) for _ in range(200)]
    pred = [set(rng.sample(labels, rng.randint(0, 4))) for _ in range(200)]
    binarizer = MultiLabelBinarizer(classes=labels).fit([labels])
    expected = f1_score(binarizer.transform(gold), binarizer.transform(pred), average="samples", zero_division=0)
    assert sum(metrics.set_f1(p, g) for p, g in zip(pred, gold, strict=False)) / 200 == pytest.approx(expected)


def test_rc_f1_matches_rouge1_on_characters() -> None:
    class Chars:
        def tokenize(self, text: str) -> list[str]:
            return list(text)

    scorer = rouge_scorer.RougeScorer(["rouge1"], tokenizer=Chars())
    rng = random.Random(1)
    alphabet = "ab12法院判决"
    for _ in range(300):
        gold = "".join(rng.choices(alphabet, k=rng.randint(1, 12)))
        pred = "".join(rng.choices(alphabet, k=rng.randint(1, 12)))
        assert metrics.rc_f1(gold, pred) == pytest.approx(scorer.score(gold, pred)["rouge1"].fmeasure)


def test_f_half_matches_sklearn_fbeta() -> None:
    rng = random.Random(2)
    for _ in range(200):
        tp, fp, fn = rng.randint(1, 9), rng.randint(0, 9), rng.randint(0, 9)
        truth, guess = [1] * tp + [0] * fp + [1] * fn, [1] * tp + [1] * fp + [0] * fn
        assert metrics.f_half(tp, fp, fn) == pytest.approx(fbeta_score(truth, guess, beta=0.5))
    assert (metrics.f_half(0, 0, 0), metrics.f_half(0, 3, 0), metrics.f_half(0, 0, 3)) == (1.0, 0.0, 0.0)


_CN = "零一二三四五六七八九"


def _render_below_10k(n: int) -> str:
    out, gap = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            gap = bool(out)
            continue
        out += ("零" if gap else "") + _CN[digit] + unit
        gap = False
    return out


def _render(n: int, short_ten: bool) -> str:
    if n == 0:
        return "零"
    high, low = divmod(n, 10_000)
    text = (_render_below_10k(high) + "万" + ("零" if 0 < low < 1000 else "")) if high else ""
    text += _render_below_10k(low) if low else ""
    return text[1:] if short_ten and text.startswith("一十") else text


def test_chinese_numerals_match_a_reference_renderer() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        n = rng.choice([rng.randint(0, 99), rng.randint(0, 9_999), rng.randint(0, 99_999_999)])
        assert metrics.chinese_to_int(_render(n, short_ten=rng.random() < 0.5)) == n
    assert metrics.chinese_to_int("二〇一九") == 2019 and metrics.chinese_to_int("两百") == 200
    assert metrics.chinese_to_int("一亿二千万") == 120_000_000 and metrics.chinese_to_int("法") is None
    assert metrics.numerals_to_digits("有期徒刑一年六个月") == "有期徒刑1年6个月"


def test_hub_source_offline_names_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="open-compass/LawBench"):
        get_task("lawbench").load(Split.TEST)
