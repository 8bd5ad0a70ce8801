"""OpenFinData scoring cross-checked against a transcription of OpenCompass's evaluation.

Neither OpenCompass nor the OpenFinData authors publish per-item predictions for OpenFinData:
the only public figures are per-file accuracies of two chat models in opencompass
`opencompass/configs/datasets/OpenFinData/README.md` (commit a5acc4b, lines 55-63), without
the model replies, so no published figure can be recomputed. Instead the helpers below
transcribe, for tests only, what OpenCompass does at that commit:
`utils/text_postprocessors.py` `last_capital_postprocess` (the pred_postprocessor that
`OpenFinData_gen_46dedb.py` sets for the lettered files), AccEvaluator's exact-match accuracy
(`openicl/icl_evaluator/icl_hf_evaluator.py`, labels mapped to integers, then accuracy) and
`datasets/OpenFinData.py` OpenFinDataKWEvaluator. ftbench must agree on random and
adversarial replies, file by file.
"""
from __future__ import annotations

import random

import pytest

from ftbench import get_task
from ftbench.base import Example
from ftbench.openfindata.task import KEYWORD_FILES, KINDS, OPTION_COUNTS, last_capital


def _oc_last_capital(text: str) -> str:
    for t in text[::-1]:
        if t.isupper():
            return t
    return ""


def _oc_accuracy(predictions: list[str], references: list[str]) -> float:
    """AccEvaluator: labels mapped to integers, then the share of equal pairs (x100, as reported)."""
    mapping = {label: i for i, label in enumerate(set(map(str, references)))}
    for pred in set(predictions):
        mapping.setdefault(str(pred), len(mapping))
    golds, preds = [mapping[str(r)] for r in references], [mapping[str(p)] for p in predictions]
    return 100 * sum(g == p for g, p in zip(golds, preds, strict=True)) / len(golds)


def _oc_keyword_accuracy(predictions: list[str], references: list[str]) -> float:
    hits = [all(item in pred for item in ref.split("、")) for pred, ref in zip(predictions, references, strict=True)]
    return round(sum(hits) / len(hits), 4) * 100


# Characters that trip naive "capital letter" readers: ASCII and full-width capitals, other
# scripts' capitals, title case, circled letters and Roman numerals, lower case, digits, CJK.
ALPHABET = ("ABCDEabcde" "ＡＢＣ" "ΣΔЖÉÅ" "ǅᾈ" "ⒶⓐⅫⅻ" "0123" "答案是选项：:、，。（）() \n\t" "ROE" "𝐀" "ß" "ﬀ")
PHRASES = ["答案：{x}", "答案是{x}。", "选{x}", "{x}. 解释", "The answer is {x}.", "我认为是{x}，ROE偏低",
           "（{x}）", "{x}"]
COMPANIES = ["平安银行", "招商银行", "贵州茅台", "五粮液", "比亚迪", "中信证券"]


def _random_reply(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(PHRASES).format(x=rng.choice("ABCDEbＢ"))
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))


def test_last_capital_matches_opencompass_on_adversarial_strings() -> None:
    rng = random.Random(2023)
    replies = [_random_reply(rng) for _ in range(3000)] + ["", "ǅ", "Ⓐ", "Ⅻ", "ß", "ﬀ", "𝐀", "ᾈ", "É\u0301", "A\u0301"]
    for reply in replies:
        assert last_capital(reply) == _oc_last_capital(reply), reply
    assert {last_capital(r) for r in replies} - set("ABCDE")        # non-ASCII capitals do occur


@pytest.mark.parametrize("file", KINDS)
def test_file_accuracy_matches_opencompass_on_random_replies(file: str) -> None:
    task = get_task("openfindata", source="fixture")
    rng = random.Random(KINDS.index(file))
    examples, replies = [], []
    for i in range(200):
        if file in KEYWORD_FILES:
            gold = "、".join(rng.sample(COMPANIES, rng.randint(1, 3)))
            reply = rng.choice(["，", "、", ""]).join(rng.sample([*COMPANIES, "茅台"], rng.randint(0, 5)))
        else:
            gold = rng.choice("ABCDE"[:OPTION_COUNTS[file]])
            reply = _random_reply(rng)
        examples.append(Example(id=f"{file}-{i}", question="q", answer=gold, kind=file))
        replies.append(reply)
    predictions = [task.extract(r) for r in replies]
    golds = [e.answer for e in examples]
    if file in KEYWORD_FILES:
        expected = _oc_keyword_accuracy(replies, golds)
    else:
        expected = _oc_accuracy([_oc_last_capital(r) for r in replies], golds)
    assert 0 < expected < 100
    assert round(100 * task.aggregate(predictions, examples), 2) == round(expected, 2)


def test_aggregate_is_the_mean_of_opencompass_file_accuracies() -> None:
    task = get_task("openfindata", source="fixture")
    rng = random.Random(5)
    examples, replies, per_file = [], [], []
    for file in KINDS[:-1]:
        n = rng.randint(5, 40)                                          # unequal file sizes
        golds = [rng.choice("ABCDE"[:OPTION_COUNTS[file]]) for _ in range(n)]
        file_replies = [_random_reply(rng) for _ in range(n)]
        per_file.append(_oc_accuracy([_oc_last_capital(r) for r in file_replies], golds))
        examples += [Example(id=f"{file}-{i}", question="q", answer=g, kind=file) for i, g in enumerate(golds)]
        replies += file_replies
    got = task.aggregate([task.extract(r) for r in replies], examples)
    assert 100 * got == pytest.approx(sum(per_file) / len(per_file))
    pooled = sum(task.score(task.extract(r), e) for r, e in zip(replies, examples, strict=True)) / len(examples)
    assert got != pytest.approx(pooled)                                  # the per-file mean is not the pooled share
