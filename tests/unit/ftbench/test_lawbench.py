"""LawBench: row mapping, split modes, the official per-sub-task rules, the aggregate, metric cross-checks."""
from __future__ import annotations

import json
import math
import random

import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import f1_score, fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

from ftbench import SourceUnavailable, Split, get_task
from ftbench.base import Example
from ftbench.lawbench import metrics, resources
from ftbench.lawbench.cherrant import f_beta
from ftbench.lawbench.rouge import lcs_length, rouge_l, words
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


def test_official_split_mode_is_the_default(task) -> None:
    train, dev, test = (task.load(s) for s in Split)
    assert task.split_mode == "official" and "split=official,dev=25/kind" in task.version
    assert train == []                                    # LawBench publishes no training data
    assert len(dev) == 20 and len(test) == 40             # a third of each 3-row sub-task, at most dev_size
    assert not {e.id for e in dev} & {e.id for e in test}
    assert get_task("lawbench", source="fixture").load(Split.DEV) == dev     # seeded


def test_official_split_sizes_on_a_full_sub_task(tmp_path, monkeypatch) -> None:
    rows = [{"instruction": "选择。", "question": f"第{i}题", "answer": "正确答案：A。"} for i in range(500)]
    (tmp_path / "lawbench" / "zero_shot").mkdir(parents=True)
    (tmp_path / "lawbench" / "zero_shot" / "1-2.json").write_text(json.dumps(rows, ensure_ascii=False))
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    official = get_task("lawbench", kinds=("1-2",))
    sizes = {s: len(official.load(s)) for s in Split}
    assert sizes == {Split.TRAIN: 0, Split.DEV: 25, Split.TEST: 475}
    carved = get_task("lawbench", kinds=("1-2",), split_mode="carve")
    assert {s: len(carved.load(s)) for s in Split} == {Split.TRAIN: 315, Split.DEV: 35, Split.TEST: 150}
    assert "split=carve" in carved.version
    assert len(get_task("lawbench", kinds=("1-2",), dev_size=50).load(Split.DEV)) == 50


def test_carve_split_mode_and_bad_options() -> None:
    carved = get_task("lawbench", source="fixture", split_mode="carve")
    assert all(carved.load(s) for s in Split)
    with pytest.raises(ValueError, match="split_mode"):
        get_task("lawbench", source="fixture", split_mode="random")
    with pytest.raises(ValueError, match="charges"):
        get_task("lawbench", source="fixture", charges="fuzzy")
    with pytest.raises(ValueError, match="proofread_tables"):
        get_task("lawbench", source="fixture", proofread_tables="mine")


def test_to_example_and_gold_replies() -> None:
    row = {"instruction": "抽取实体。", "question": "句子:某甲偷走自行车。", "answer": "犯罪嫌疑人:某 甲;被盗物品:自行车"}
    example = to_example("2-6", 7, row)
    assert example.id == "lawbench-2-6-0007" and example.question == "抽取实体。\n句子:某甲偷走自行车。"
    assert gold_reply(example) == "犯罪嫌疑人:某甲\n被盗物品:自行车。"
    assert metrics.sample_score("2-6", gold_reply(example), example.answer) == 1.0
    official = metrics.corpus_score("2-6", [gold_reply(example)], [example.answer])
    assert official == pytest.approx(1 - 5e-11, abs=1e-12)
    assert gold_reply(_ex("2-5", "回答:三万元")) == "三万元"
    assert gold_reply(_ex("1-1", "答案:条文")) == "条文"
    assert gold_reply(_ex("3-3", "罪名:盗窃")) == "罪名:盗窃"
    verbatim = to_example("2-1", 0, {"instruction": "i", "question": "q", "answer": "句子。 "})
    assert verbatim.answer == "句子。 "


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
    assert metrics.sample_score("3-3", "盗窃罪和抢劫罪", "罪名:盗窃;抢劫") == 1.0


def test_charges_are_matched_as_substrings_officially() -> None:
    # official: every listed charge found as a substring counts, so 合同诈骗 also brings 诈骗 (F1 2/3)
    assert metrics.sample_score("3-3", "罪名:合同诈骗", "罪名:合同诈骗") == pytest.approx(2 / 3)
    assert metrics.sample_score("3-3", "罪名:诈骗", "罪名:合同诈骗") == 0.0
    lenient = get_task("lawbench", source="fixture", charges="longest")
    assert lenient.score("罪名:合同诈骗", _ex("3-3", "罪名:合同诈骗")) == 1.0 and "3-3=longest" in lenient.version


def test_set_f1_argument_order_follows_each_script() -> None:
    # same value either way, but the official float operations differ: (p, g) in 2-3/3-1, (g, p) in 2-9/3-3
    assert metrics.f1_of_sets({"a"}, {"a", "b", "c"}) == 2 * 1.0 * (1 / 3) / (1.0 + 1 / 3)
    assert metrics.f1_of_sets({"a", "b", "c"}, {"a"}) == 2 * (1 / 3) * 1.0 / (1 / 3 + 1.0)
    assert metrics.f1_of_sets(set(), {"a"}) == 0


def test_article_and_sentence_rules() -> None:
    assert metrics.article_numbers("刑法第二百六十四条、第六十七条") == {264, 67}
    assert metrics.article_numbers("第六十七条第一款") == set()   # official quirk: 第(.*?)款 eats the whole chunk
    assert metrics.sample_score("3-1", "第264条", "法条:刑法第264、67条") == pytest.approx(2 / 3)
    assert metrics.sentence_months("判处有期徒刑三年") == 36
    assert metrics.sentence_months("一年六个月") == 6          # the official rule takes the first "个月"
    assert metrics.sample_score("3-4", "刑期:11个月", "刑期:11个月") == 1.0
    expected = (math.log(216) - abs(math.log(7) - math.log(13))) / math.log(216)
    assert metrics.sample_score("3-4", "一年", "刑期:6个月") == expected
    assert metrics.sample_score("3-4", "无法判断", "刑期:6个月") == 0.0
    assert metrics.sample_score("3-7", "共计2000元", "上文涉及到的犯罪金额:2000元。") == 1.0
    assert metrics.sample_score("3-7", "共计2000.5元", "上文涉及到的犯罪金额:2000元。") == 0.0


def test_imprisonment_scores_are_not_clipped(task) -> None:
    far = metrics.sample_score("3-4", "有期徒刑3000年", "刑期:6个月")        # 36,000 months for 6
    assert far == (math.log(216) - (math.log(36001) - math.log(7))) / math.log(216) < 0
    examples = [_ex("3-4", "刑期:6个月"), _ex("3-5", "刑期:6个月")]
    predictions = ["有期徒刑3000年", "有期徒刑3000年"]
    scores = task.task_scores(predictions, examples)
    assert scores["3-4"] == scores["3-5"] == far
    assert task.overall_score(predictions, examples) == far and task.aggregate(predictions, examples) == 0.0
    examples = [examples[0], _ex("3-7", "上文涉及到的犯罪金额:100元。"), _ex("1-2", "正确答案：A。")]
    predictions = [predictions[0], "100元", "A"]
    assert task.overall_score(predictions, examples) == task.aggregate(predictions, examples) == (far + 2.0) / 3


def test_soft_f1_rules() -> None:
    assert metrics.sample_score("2-5", "三万", "回答:三万元") == pytest.approx(0.8)
    assert metrics.sample_score("2-10", "击打;获得", "击打") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert metrics.sample_score("2-6", "犯罪嫌疑人:赵某\n受害人:孙某\n", "犯罪嫌疑人:赵某;地点:车库") == pytest.approx(0.5)
    assert metrics.trigger_f1("击打", "击打") == 2 * 1.0 * 1.0 / (2.0 + 1e-10)   # the official epsilon
    assert metrics.entity_f1("没有实体", "") == 1.0 and metrics.entity_f1("地点:车库 ", "") == 0.0
    assert metrics.rc_f1("Ⅷ号", "号") == 1.0        # digits and letters only: Ⅷ is neither (isalnum() says yes)


def test_rouge_l_follows_rouge_chinese() -> None:
    assert rouge_l("被告人构成盗窃罪。", "被告人构成盗窃罪。") == 2.0 / (2.0 + 1e-8)          # rouge_chinese's epsilon
    assert rouge_l("被告人构成盗窃罪。", "被告人构成盗窃罪。", official=False) == 1.0
    assert 0 < rouge_l("被告人构成抢劫罪。", "被告人构成盗窃罪。") < 1
    assert rouge_l("", "被告人构成盗窃罪。") == rouge_l("无内容", "被告人构成盗窃罪。") == 0.0
    # jieba joins "甲。\n\n乙" as "甲 。 \n \n 乙"; each blank sentence leaves an empty word (as rouge_chinese)
    assert words("甲 。 \n \n 乙") == ["甲", "。", "", "", "乙"]
    assert metrics.sample_score("1-1", "国家保护财产。", "答案:国家保护财产。") == 1.0


def test_proofreading_counts_and_f_half() -> None:
    source = "被告人主动投按，如实供述。"
    fixed = "被告人主动投案，如实供述。"
    assert metrics.sample_score("2-1", fixed, fixed, source) == 1.0
    assert metrics.sample_score("2-1", source, fixed, source) == 0.0        # nothing fixed: R = 0
    assert metrics.sample_score("2-1", source, source, source) == 1.0      # nothing to fix, nothing changed
    assert metrics.sample_score("2-1", "", fixed, source) == 0.0
    # corpus: TP=1 (X->丙), FP=1 (己->Y), FN=0 -> P=0.5, R=1 -> F0.5 = 1.25*0.5/(0.125+1), printed to 4 places
    refs, sources = ["甲乙丙", "丁戊己"], ["甲乙X", "丁戊己"]
    assert metrics.corpus_score("2-1", ["甲乙丙", "丁戊Y"], refs, sources) == round(0.625 / 1.125, 4)
    assert metrics.corpus_score("2-1", ["甲乙X", "丁戊己"], refs, sources) == 0.0


def test_rows_the_official_scorer_skips_are_dropped(task) -> None:
    assert not task.usable(_ex("2-2", "争议焦点类别：赔偿。"))
    assert not task.usable(_ex("3-4", "刑期:死刑"))
    assert not task.usable(_ex("3-5", "刑期:无期徒刑"))
    # everything else is kept, even rows a perfect reply cannot score 1 on
    assert task.usable(_ex("2-2", "争议焦点类别：违约。")) and task.usable(_ex("3-3", "罪名:合同诈骗"))
    assert task.usable(_ex("2-6", ""))


def test_kinds_option(task) -> None:
    subset = get_task("lawbench", source="fixture", kinds=("3-7",))
    assert {e.kind for e in subset.load(Split.TEST)} == {"3-7"}
    with pytest.raises(ValueError, match="unknown sub-tasks"):
        get_task("lawbench", source="fixture", kinds=("9-9",))


def test_version_names_the_2_1_tables() -> None:
    assert "2-1=cherrant-char/bare" in get_task("lawbench", source="fixture").version
    assert "2-1=cherrant-char/official" in get_task("lawbench").version


def test_official_tables_missing_names_them(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match=r"cilin\.txt, confusion_dict\.txt"):
        resources.official()


# ---- cross-checks of hand-written metrics against reference implementations ------------------

def test_set_f1_matches_sklearn_samples_f1() -> None:
    rng = random.Random(0)
    labels = list("abcdefgh")
    gold = [set(rng.sample(labels, rng.randint(1, 4))) for _ in range(200)]
    pred = [set(rng.sample(labels, rng.randint(0, 4))) for _ in range(200)]
    binarizer = MultiLabelBinarizer(classes=labels).fit([labels])
    expected = f1_score(binarizer.transform(gold), binarizer.transform(pred), average="samples", zero_division=0)
    assert sum(metrics.set_f1(p, g) for p, g in zip(pred, gold, strict=True)) / 200 == pytest.approx(expected)


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


def test_lcs_matches_dynamic_programming() -> None:
    def table_lcs(x: list[str], y: list[str]) -> int:
        row = [0] * (len(y) + 1)
        for a in x:
            prev, row = row, [0]
            for j, b in enumerate(y, 1):
                row.append(prev[j - 1] + 1 if a == b else max(prev[j], row[j - 1]))
        return row[-1]

    rng = random.Random(4)
    for _ in range(500):
        x = rng.choices("甲乙丙丁戊", k=rng.randint(0, 40))
        y = rng.choices("甲乙丙丁戊", k=rng.randint(0, 40))
        assert lcs_length(x, y) == table_lcs(x, y)


def test_f_half_matches_sklearn_fbeta() -> None:
    rng = random.Random(2)
    for _ in range(200):
        tp, fp, fn = rng.randint(1, 9), rng.randint(0, 9), rng.randint(0, 9)
        truth, guess = [1] * tp + [0] * fp + [1] * fn, [1] * tp + [1] * fp + [0] * fn
        assert f_beta(tp, fp, fn) == pytest.approx(fbeta_score(truth, guess, beta=0.5))
    assert (f_beta(0, 0, 0), f_beta(0, 3, 0), f_beta(0, 0, 3)) == (1.0, 0.0, 0.0)


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
