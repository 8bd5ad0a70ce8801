"""CS-Bench scoring cross-checked against a transcription of the official `gen_judgment.py`.

CS-Bench publishes no model replies with their scores, so no published figure can be
recomputed. The helpers below transcribe, for tests only, csbench/csbench `gen_judgment.py`
at commit 68d6f39fba45716e29f70f34e0f4b411d89736b4 (CC BY-NC 4.0): `score_json_object` for
multiple choice (first standalone A-D, any case, in the whole reply) and true/false (first
true/false in the lower-cased reply, compared with the upper-cased gold), and
`extract_fill_in_blank_score` / `extract_open_ended_score` for the judge's verdict (the last
0/1, or 1-10, anywhere; 0 when none). The official script has no exact-match rule for
fill-in-the-blank: without the judge it leaves those items unscored, so ftbench's normalized
exact match (judge=none) has nothing to be checked against.

Deliberate ftbench deviations, excluded by name (ftbench/README.md, cs_bench):
EXTRACTED: ftbench matches in the extracted answer (after the last "Answer:"), not the reply;
LETTER_CASE: option letters are read case-sensitively (the article "a" is not option A);
TRUTH_CASE: true/false is compared without case (the official compare can never succeed);
STRICT_VERDICT: a verdict must be the mark alone on the judge's last line, else an error, and
"N/10" reads N (the official script reads the last number anywhere, so "7/10" gives 10).
"""
from __future__ import annotations

import random
import re

import pytest

from ftbench import get_task
from ftbench.base import Example
from ftbench.cs_bench.judge import parse_verdict
from ftbench.cs_bench.task import ASSERTION, MULTIPLE_CHOICE


def _official_score(output: str, form: str, answer: object, *, letter_flags: int = re.IGNORECASE,
                    gold_case: str = "upper") -> int:
    """score_json_object for multiple choice and assertion; the keywords switch on LETTER_CASE
    (letter_flags=0) and TRUTH_CASE (gold_case="lower"), nothing else."""
    if form == MULTIPLE_CHOICE:
        matches = re.findall(r"\b[ABCD]\b", output, letter_flags)
        return int(bool(matches) and matches[0].upper() == str(answer).upper())
    match = re.search(r"\b(true|false)\b", output.lower())
    gold = str(answer).upper() if gold_case == "upper" else str(answer).lower()
    return int(match is not None and match.group(0) == gold)


def _official_verdict(gpt_output: str, high: int) -> float:
    """extract_fill_in_blank_score (high=1) and extract_open_ended_score (high=10)."""
    pattern = r"\b(0|1)\b" if high == 1 else r"\b([1-9]|10)\b"
    matches = re.findall(pattern, gpt_output)
    return (int(matches[-1]) / (1 if high == 1 else 10)) if matches else 0


WORDS = ["a", "A", "b", "B", "C", "c", "D", "d", "E", "true", "false", "True", "FALSE", "falſe", "ｔｒｕｅ", "İtrue",
         "Answer:", "answer :", "Answer：", "(B)", "B.", "option", "is", "not", "\n", "AB", "A-D", "it's", "untrue",
         "true/false", "TRUEISH", "I", "think", "the", "statement"]


def _reply(rng: random.Random, form: str) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(0, 12))]
    if rng.random() < 0.5:
        final = rng.choice("ABCD") if form == MULTIPLE_CHOICE else rng.choice(["true", "false", "True", "FALSE"])
        words += [rng.choice(["Answer:", "\nAnswer:", "answer:"]), final]
    return " ".join(words)


@pytest.mark.parametrize("form", [MULTIPLE_CHOICE, ASSERTION])
def test_item_scores_match_the_official_script_but_for_named_deviations(form: str) -> None:
    task = get_task("cs_bench", source="fixture")
    rng = random.Random(2024 + len(form))
    counts = {"agree": 0, "EXTRACTED": 0, "LETTER_CASE": 0, "TRUTH_CASE": 0}
    for i in range(1500):
        raw_gold: object = rng.choice("ABCD") if form == MULTIPLE_CHOICE else rng.choice([True, False])
        gold = str(raw_gold).lower() if form == ASSERTION else str(raw_gold)
        example = Example(id=f"x{i}", question="q", answer=gold, meta={"format": form})
        reply = _reply(rng, form)
        extracted = task.extract(reply)
        got = task.score(extracted, example)
        with_deviations = _official_score(extracted, form, raw_gold, letter_flags=0, gold_case="lower")
        assert got == with_deviations, (reply, extracted, got, with_deviations)
        official = _official_score(reply, form, raw_gold)
        if form == ASSERTION:
            assert official == 0                                    # the official compare never succeeds
        case_kw = {"letter_flags": 0} if form == MULTIPLE_CHOICE else {"gold_case": "lower"}
        if got == official:
            counts["agree"] += 1
        elif _official_score(reply, form, raw_gold, **case_kw) != with_deviations:   # type: ignore[arg-type]
            counts["EXTRACTED"] += 1
        else:
            counts["LETTER_CASE" if form == MULTIPLE_CHOICE else "TRUTH_CASE"] += 1
    assert counts["agree"] > 600 and counts["EXTRACTED"] > 50
    assert counts["LETTER_CASE" if form == MULTIPLE_CHOICE else "TRUTH_CASE"] > 50


@pytest.mark.parametrize("reply, official, ours", [
    ("The answer is a. Answer: B", 0, 1),                         # EXTRACTED + LETTER_CASE: "a" is the article
    ("Answer: b", 1, 0),                                          # LETTER_CASE
    ("Answer: falſe true", 0, 1),                                  # TRUTH_CASE; "falſe" is no match in either
])
def test_named_deviations_by_hand(reply: str, official: int, ours: float) -> None:
    task = get_task("cs_bench", source="fixture")
    form = ASSERTION if "true" in reply else MULTIPLE_CHOICE
    gold = "true" if form == ASSERTION else "B"
    example = Example(id="x", question="q", answer=gold, meta={"format": form})
    assert _official_score(reply, form, True if form == ASSERTION else gold) == official
    assert task.score(task.extract(reply), example) == ours


VERDICT_LINES = ["{m}", "Score: {m}", "**{m}**", "{m}/10", "{m}.", "Mark: `{m}`", "I give {m}", "{m} points", "",
                 "Score (1-10): {m}"]


@pytest.mark.parametrize("high", [1, 10])
def test_judge_verdicts_match_the_official_reader_but_for_strict_verdict(high: int) -> None:
    rng = random.Random(high)
    agree = strict = 0
    for _ in range(600):
        mark = rng.randint(0 if high == 1 else 1, high)
        lead = rng.choice(["", "The student wrote 3 of 10 points.\n", "<think>maybe 0 or 1, or 7</think>\n",
                           "Reasoning: the answer is close.\n\n"])
        reply = lead + rng.choice(VERDICT_LINES).format(m=mark)
        official = _official_verdict(reply, high)
        try:
            ours = parse_verdict(reply, 0 if high == 1 else 1, high) / (1 if high == 1 else 10)
        except ValueError:
            strict += 1                                             # STRICT_VERDICT: ftbench raises instead
            continue
        if "/" in reply.splitlines()[-1]:
            assert ours == mark / (1 if high == 1 else 10)          # STRICT_VERDICT: "N/10" reads N
            strict += official != ours
            continue
        assert ours == official, reply
        agree += 1
    assert agree > 250 and strict > 50
