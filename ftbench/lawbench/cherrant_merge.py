"""ChERRANT's char-level `Merger`: an alignment's operations turned into span edits (LawBench 2-1).

Runs of deletions / insertions / substitutions are merged, S-M-S and D-M-I patterns that swap
text become word-order edits ("T<n>"), and a substitution whose head or tail repeats the source
is narrowed. Our own code for what ChERRANT's `modules/merger.py` does at char granularity.
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from itertools import groupby

Edit = tuple[str, int, int, int, int]          # (op, src start, src end, tgt start, tgt end)
CHINESE_PUNCT = ("！？｡＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～"
                  "｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟")
MERGE_PUNCT = string.punctuation + CHINESE_PUNCT + "–—‘'‛“”„‟…‧."


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _merged(seq: list[Edit], tag: str) -> list[Edit]:
    return [(tag, seq[0][1], seq[-1][2], seq[0][3], seq[-1][4])] if seq else seq


def _process(seq: list[Edit]) -> list[Edit]:
    if len(seq) <= 1:
        return seq
    ops = {op[0] for op in seq}
    if ops in ({"D"}, {"I"}):
        return _merged(seq, ops.pop())
    if ops == {"D", "I"}:
        return seq
    if ops == {"M"}:
        return _merged(seq, "M")
    return _merged(seq, "S")            # all S, or a mix with S: one substitution at char level


def merge(alignment: list[Edit], src: Sequence[str], tgt: Sequence[str]) -> list[Edit]:
    """ChERRANT's `Merger.__call__` at char granularity (merge=False)."""
    edits: list[Edit] = []
    for op, group in groupby(alignment, lambda x: x[0][0] if x[0][0] in {"M", "T"} else False):
        group_list = list(group)
        edits += group_list if op == "T" else _process(group_list)
    filtered: list[Edit] = []
    i = 0
    while i < len(edits):
        if i < len(edits) - 2 and _joins(edits[i:i + 3], src, tgt):
            filtered += _merged(edits[i:i + 3], "T" + str(edits[i + 2][2] - edits[i][1]))
            i += 3
            continue
        if edits[i][0][0] != "M":
            filtered.append(edits[i])
        i += 1
    return [_trimmed(edit, src, tgt) for edit in filtered
            if "".join(src[edit[1]:edit[2]]) != "".join(tgt[edit[3]:edit[4]])]


def _joins(three: list[Edit], src: Sequence[str], tgt: Sequence[str]) -> bool:
    """Whether three consecutive edits are one word-order edit: S-M-S whose outer spans swap
    places, or D-(M/T)-I / I-(M/T)-D moving the same (near-identical) text."""
    (e1, e2, e3), first, last = (edit[0][0] for edit in three), three[0], three[2]
    if e1 == "S" and e2 == "M" and e3 == "S":
        w1, w2 = "".join(src[first[1]:first[2]]), "".join(tgt[first[3]:first[4]])
        w3, w4 = "".join(src[last[1]:last[2]]), "".join(tgt[last[3]:last[4]])
        if min(len(w1), len(w2), len(w3), len(w4)) == 1:
            return w1 == w4 and w2 == w3
        return _levenshtein(w1, w4) <= 1 and _levenshtein(w2, w3) <= 1
    if {e1, e3} == {"D", "I"} and e2 in ("M", "T"):
        deleted, inserted = (first, last) if e1 == "D" else (last, first)
        a, b = "".join(src[deleted[1]:deleted[2]]), "".join(tgt[inserted[3]:inserted[4]])
        if len(a) < len(b):
            a, b = b, a
        if a in MERGE_PUNCT or b in MERGE_PUNCT or len(a) - len(b) > 1:
            return False
        if len(b) == 1:
            return a == b
        return _levenshtein(a, b) <= 1 or (len(a) == len(b) and b in a + a)
    return False


def _trimmed(edit: Edit, src: Sequence[str], tgt: Sequence[str]) -> Edit:
    """Merger's second filter: a substitution whose head or tail repeats the source is narrowed."""
    if edit[0] != "S":
        return edit
    span2 = "".join(tgt[edit[3]:edit[4]])
    unchanged = True
    common, tmp_start = "", edit[1]
    for i in range(edit[1], edit[2]):
        if not span2.startswith(common + src[i]):
            break
        common += src[i]
        tmp_start = i + 1
    new_start_1, new_start_2 = edit[1], edit[3]
    if common:
        text = ""
        for i in range(edit[3], edit[4]):
            text += tgt[i]
            if text == common:
                new_start_1, new_start_2 = tmp_start, i + 1
                unchanged = False
                break
            if len(text) > len(common):
                break
    common, tmp_end = "", edit[2]
    new_end_1, new_end_2 = edit[2], edit[4]
    for i in reversed(range(new_start_1, edit[2])):
        if not span2.endswith(src[i] + common):
            break
        common = src[i] + common
        tmp_end = i
    if common:
        text = ""
        for i in reversed(range(new_start_2, edit[4])):
            text = tgt[i] + text
            if text == common:
                new_end_1, new_end_2 = tmp_end, i
                unchanged = False
                break
            if len(text) > len(common):
                break
    if unchanged:
        return edit
    if new_start_1 == new_end_1:
        op = "I"
    elif new_start_2 == new_end_2:
        op = "D"
    else:
        op = "S"
    return (op, new_start_1, new_end_1, new_start_2, new_end_2)
