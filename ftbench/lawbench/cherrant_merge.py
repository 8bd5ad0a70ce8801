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
        e1 = edits[i][0][0]
        if i < len(edits) - 2:
            e2, e3 = edits[i + 1][0][0], edits[i + 2][0][0]
            swap = "T" + str(edits[i + 2][2] - edits[i][1])
            if e1 == "S" and e2 == "M" and e3 == "S":
                w1 = "".join(src[edits[i][1]:edits[i][2]])
                w2 = "".join(tgt[edits[i][3]:edits[i][4]])
                w3 = "".join(src[edits[i + 2][1]:edits[i + 2][2]])
                w4 = "".join(tgt[edits[i + 2][3]:edits[i + 2][4]])
                if min(len(w1), len(w2), len(w3), len(w4)) == 1:
                    join = w1 == w4 and w2 == w3
                else:
                    join = _levenshtein(w1, w4) <= 1 and _levenshtein(w2, w3) <= 1
                if join:
                    filtered += _merged(edits[i:i + 3], swap)
                    i += 3
                else:
                    filtered.append(edits[i])
                    i += 1
            elif (e1 == "D" and e2 in ("M", "T") and e3 == "I") or (e1 == "I" and e2 in ("M", "T") and e3 == "D"):
                if e1 == "D":
                    deleted, inserted = src[edits[i][1]:edits[i][2]], tgt[edits[i + 2][3]:edits[i + 2][4]]
                else:
                    deleted, inserted = src[edits[i + 2][1]:edits[i + 2][2]], tgt[edits[i][3]:edits[i][4]]
                a, b = "".join(deleted), "".join(inserted)
                if len(a) < len(b):
                    a, b = b, a
                join = False
                if a not in MERGE_PUNCT and b not in MERGE_PUNCT and len(a) - len(b) <= 1:
                    if len(b) == 1:
                        join = a == b
                    else:
                        join = _levenshtein(a, b) <= 1 or (len(a) == len(b) and b in a + a)
                if join:
                    filtered += _merged(edits[i:i + 3], swap)
                    i += 3
                else:
                    filtered.append(edits[i])
                    i += 1
            else:
                if e1 != "M":
                    filtered.append(edits[i])
                i += 1
        else:
            if e1 != "M":
                filtered.append(edits[i])
            i += 1
    return [_trimmed(edit, src, tgt) for edit in filtered
            if "".join(src[edit[1]:edit[2]]) != "".join(tgt[edit[3]:edit[4]])]


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
