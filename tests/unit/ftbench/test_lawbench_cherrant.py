"""ChERRANT char-level edits as LawBench's 2-1 scorer extracts and counts them.

The expected edits below are what LawBench's own ChERRANT run (parallel_to_m2.py -g char, then
compare_m2_for_evaluation.py) writes for the same pairs; they hold with the bare tables too.
"""
from __future__ import annotations

import pytest

from ftbench.lawbench import cherrant
from ftbench.lawbench.resources import bare


@pytest.fixture(scope="module")
def annotator() -> cherrant.Annotator:
    return cherrant.Annotator(bare())


@pytest.mark.parametrize("source, target, edits", [
    ("甲乙丙丁", "甲丙乙丁", {(1, 3, "丙乙"): ["W"]}),                                   # word order
    ("被告人主动投按，如实供述。", "被告人主动投案，如实供述。", {(6, 7, "案"): ["S"]}),
    ("原告诉请被告支付货款五万元及其利息息。", "原告诉请被告支付货款五万元及其利息。", {(16, 17, "-NONE-"): ["R"]}),
    ("本院依法审理", "本院依法公开审理了", {(4, 4, "公开"): ["M"], (6, 6, "了"): ["M"]}),   # insertions merged
    ("本院依法审理", "无法标注", {cherrant.NOOP: ["NA"]}),
    ("本院依法审理", "本院 依法\t审理", {cherrant.NOOP: ["noop"]}),                       # whitespace is dropped
])
def test_edits_match_chERRANT(annotator: cherrant.Annotator, source: str, target: str, edits: dict) -> None:
    assert annotator.annotate(source, target).edits == edits


def test_every_cheapest_alignment_is_pooled(annotator: cherrant.Annotator) -> None:
    # two cheapest alignments, two different edit lists: an edit in both counts twice (as in LawBench's run)
    annotation = annotator.annotate("dddcb", "dbcbb")
    assert annotation.alignments == 2
    assert annotation.edits == {(0, 1, "-NONE-"): ["R"], (2, 3, "b"): ["S"], (4, 4, "b"): ["M", "M"],
                                (1, 3, "b"): ["S"]}
    hyp = cherrant.Annotator(bare()).annotate("dddcb", "dbcbb").edits
    assert cherrant.compare(hyp, annotation.edits) == (5, 0, 0)


def test_compare_counts_like_compare_m2() -> None:
    hyp = {(1, 2, "案"): ["S"], (5, 5, "了"): ["M"]}
    ref = {(1, 2, "案"): ["S", "S"], (7, 8, "-NONE-"): ["R"]}
    assert cherrant.compare(hyp, ref) == (2, 1, 1)           # a TP counts the reference's categories
    assert cherrant.compare({cherrant.NOOP: ["noop"]}, ref) == (0, 0, 3)
    assert cherrant.compare({cherrant.NOOP: ["NA"]}, {cherrant.NOOP: ["noop"]}) == (1, 0, 0)   # official quirk
    assert cherrant.compare(hyp, {cherrant.NOOP: ["NA"]}) == (0, 0, 0)                       # not annotatable


def test_a_pair_past_the_limit_counts_as_timed_out() -> None:
    strict = cherrant.Annotator(bare(), limit=1)
    annotation = strict.annotate("dddcb", "dbcbb")
    assert annotation.timed_out and annotation.edits == strict.annotate("dddcb", cherrant.TIMED_OUT_TARGET).edits


def test_wsjd_clean_up() -> None:
    assert cherrant.wsjd_inputs("甲\n乙\t丙", "甲乙丙") == ("甲乙丙", "甲乙丙")
    assert cherrant.wsjd_inputs("一二三四五六七八九十", "一二三") == ("一二三四五六七八", "一二三")   # cut at len + 5
    assert cherrant.wsjd_inputs("\n", "甲") == ("无内容", "甲")


def test_count_alignments_matches_enumeration(annotator: cherrant.Annotator) -> None:
    for source, target in [("甲乙丙丁戊", "戊丁丙乙甲"), ("法院判决如下", "判决法院如下了"), ("甲乙乙乙丙", "甲乙丙")]:
        src, tgt = cherrant.tokens(source), cherrant.tokens(target)
        ops = annotator.aligner.operations(src, tgt)
        first_only = abs(len(src) - len(tgt)) > 10
        assert cherrant.count_alignments(ops, first_only) == sum(1 for _ in cherrant.alignments(ops, first_only))
