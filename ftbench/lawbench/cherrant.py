"""Character-level ChERRANT edits and corpus F0.5, as LawBench scores task 2-1 (proofreading).

LawBench's `wsjd.py` writes (source, prediction) and (source, reference) pairs, turns each into
M2 edits with ChERRANT's `parallel_to_m2.py -g char` and compares them with
`compare_m2_for_evaluation.py`. This module re-implements that path in our own code:

- tokens: one per character after dropping all whitespace ("[缺失成分]" stays one token); the
  target (prediction or reference), not the source, is first converted to simplified Chinese;
- alignment: ERRANT-style edit distance with ChERRANT's costs (insert/delete 1; substitute
  = semantic distance from the Cilin thesaurus / 6 + 0 or 0.5 for shared pinyin or a listed
  confusion + 0.25, 0 or 0.499 by punctuation; transpositions), every cheapest alignment
  enumerated (only the first when the lengths differ by more than 10);
- merging: ChERRANT's char-level merger (`cherrant_merge.py`: runs of D / I / S merged, S-M-S
  and D-M-I patterns turned into word-order edits, overlapping heads and tails trimmed);
- counting: the edits of every distinct merged alignment are pooled under one annotator, so an
  edit found in k alignments counts k times, exactly as compare_m2 then counts them;
- F0.5: corpus TP/FP/FN, precision/recall 1.0 on an empty denominator, rounded to 4 places.

What the official run has and we only approximate: a 10-second wall-clock time-out per sentence
pair (`timeout_decorator`), after which the target is replaced by "无". Wall-clock time is not
reproducible, so a pair whose cheapest alignments number more than `ALIGNMENT_LIMIT` is
treated as timed out (see catalog.md for how the limit was calibrated). The resources (pinyin
readings, the Cilin codes of single characters, the confusion sets, the simplified-Chinese
conversion) are passed in as a `Resources`; see `ftbench.lawbench.resources`.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ftbench.lawbench.cherrant_merge import CHINESE_PUNCT, Edit, merge

# alignment.py's punctuation (sub cost) and merger.py's (edit merging) are two different strings
ALIGN_PUNCT = CHINESE_PUNCT + "〰〾〿–—‘'‛“”„‟…‧﹏" + string.punctuation
MISSING = "[缺失成分]"
NO_EDITS, NOT_ANNOTATABLE = "没有错误", "无法标注"
TIMED_OUT_TARGET = "无"
ALIGNMENT_LIMIT = 100_000     # cheapest alignments of one pair past which it counts as timed out
NOOP = (-1, -1, "-NONE-")
CATEGORIES = {"T": "W", "D": "R", "I": "M", "S": "S"}    # ChERRANT char-level classes of T/D/I/S

Key = tuple[int, int, str]                     # (src start, src end, correction) as compare_m2 keys it


@dataclass(frozen=True)
class Resources:
    """What ChERRANT's char-level costs look up. `readings(ch)`: the toneless pinyin readings of
    one character; `semantic`: Cilin code of single characters; `confusion`: confusable characters;
    `simplify`: traditional-to-simplified conversion applied to targets."""

    readings: Callable[[str], frozenset[str]] = lambda ch: frozenset()
    semantic: dict[str, str] = field(default_factory=dict)
    confusion: dict[str, frozenset[str]] = field(default_factory=dict)
    simplify: Callable[[str], str] = lambda text: text
    name: str = "none"


def _all_chinese(word: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in word)


class Aligner:
    """ChERRANT's `Alignment` at char granularity."""

    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self._sub_costs: dict[tuple[str, str], float] = {}

    def _semantic_cost(self, a: str, b: str) -> int:
        code_a, code_b = self.res.semantic.get(a), self.res.semantic.get(b)
        if code_a is None or code_b is None:
            return 4
        class_a, class_b = (code_a[0], code_a[1], code_a[2:4]), (code_b[0], code_b[1], code_b[2:4])
        if class_a == class_b:
            return 0
        return 2 * (3 - sum(x == y for x, y in zip(class_a, class_b, strict=True)))

    def _char_cost(self, a: str, b: str) -> float:
        if not (_all_chinese(a) and _all_chinese(b)):
            return 0.5
        if len(a) > len(b):
            a, b = b, a
        if a == b:
            return 0
        shared = bool(self.res.readings(a) & self.res.readings(b)) if len(a) == len(b) == 1 else False
        count = 0
        for ca in a:
            for cb in b:
                if (ca == cb or shared or ca in self.res.confusion.get(cb, ())
                        or cb in self.res.confusion.get(ca, ())):
                    count += 1
                    break
        return (len(a) - count) / (len(a) * 2)

    def sub_cost(self, a: str, b: str) -> float:
        if a == b:
            return 0
        semantic = self._semantic_cost(a, b) / 6.0
        if a in ALIGN_PUNCT and b in ALIGN_PUNCT:
            pos = 0.0
        elif a not in ALIGN_PUNCT and b not in ALIGN_PUNCT:
            pos = 0.25
        else:
            pos = 0.499
        return semantic + self._char_cost(a, b) + pos

    def operations(self, src: Sequence[str], tgt: Sequence[str]) -> Operations:
        """Every cheapest operation at every cell of ChERRANT's `Alignment.align` matrix.

        Same costs, float arithmetic, ties and transposition search as the original, computed a row
        at a time with numpy, plus shortcuts that cannot change the result: a transposition window
        src[i-k..i] / tgt[j-k..j] can only hold the same characters once it reaches back to an
        earlier src[i] in tgt and an earlier tgt[j] in src, and widening to k costs at least
        k + |i - j| (cost[a][b] >= |a - b|), so windows that could not be cheapest are skipped (a
        transposition that is not cheapest is not among the cell's operations either way)."""
        n, m = len(src), len(tgt)
        uniques = sorted(set(tgt))
        where = {ch: u for u, ch in enumerate(uniques)}
        tgt_idx = np.array([where[ch] for ch in tgt], dtype=np.int64)
        columns = np.arange(m)
        cost = [np.arange(m + 1, dtype=np.float64)]
        flags = [[OP_I] * (m + 1)]
        flags[0][0] = 0
        widths: dict[tuple[int, int], int] = {}
        last_in_src = np.full(len(uniques), -1, dtype=np.int64)      # last row < i holding each tgt char
        for i in range(n):
            a, prev = src[i], cost[i]
            subs = self._sub_row(a, uniques)[tgt_idx]
            match = tgt_idx == where[a] if a in where else np.zeros(m, dtype=bool)
            substitution = prev[:-1] + subs
            deletion = prev[1:] + 1
            other = np.minimum(substitution, deletion)               # an upper bound of min(S, I, D)
            transposition = np.full(m, np.inf)
            seen_a = np.maximum.accumulate(np.where(match, columns, -1))
            last_a = np.concatenate(([-1], seen_a[:-1]))              # last column < j holding a
            last_b = last_in_src[tgt_idx]
            reach = np.maximum(columns - last_a, i - last_b)
            candidates = np.flatnonzero((last_a >= 0) & (last_b >= 0) & ~match
                                        & (reach + np.abs(i - columns) <= other + 1e-9))
            for j in candidates.tolist():
                found = self._transposition(src, tgt, cost, i, j, int(reach[j]), float(other[j]))
                if found is not None:
                    transposition[j], widths[(i + 1, j + 1)] = found
            chosen = np.minimum(other, transposition).tolist()
            previous, matched = prev.tolist(), match.tolist()
            value = float(i + 1)
            row = [value]
            for j in range(m):
                if matched[j]:
                    value = previous[j]
                else:
                    insertion = value + 1
                    x = chosen[j]
                    value = x if x <= insertion else insertion
                row.append(value)
            current = np.array(row)
            best = current[1:]
            bits = ((transposition == best) * OP_T | (substitution == best) * OP_S
                    | ((current[:-1] + 1) == best) * OP_I | (deletion == best) * OP_D)
            bits = np.where(match, OP_M, bits)
            cost.append(current)
            flags.append([OP_D, *bits.tolist()])
            if a in where:
                last_in_src[where[a]] = i
        return Operations(flags, widths)

    def _sub_row(self, a: str, uniques: list[str]) -> np.ndarray:
        """Substitution costs of `a` against each of `uniques` (cached per character pair)."""
        costs = self._sub_costs
        out = []
        for b in uniques:
            pair = costs.get((a, b))
            if pair is None:
                pair = costs[(a, b)] = self.sub_cost(a, b)
            out.append(pair)
        return np.array(out, dtype=np.float64)

    @staticmethod
    def _transposition(src: Sequence[str], tgt: Sequence[str], cost: list[np.ndarray], i: int, j: int,
                       reach: int, other: float) -> tuple[float, int] | None:
        """ChERRANT's transposition search at cell (i+1, j+1): (cost, k+1) or None when none is found
        before the diagonal's cost stops changing (or before it could no longer be cheapest)."""
        k, gap = 1, abs(i - j)
        while i - k >= 0 and j - k >= 0 and cost[i - k + 1][j - k + 1] != cost[i - k][j - k]:
            if k + gap > other + 1e-9:
                return None
            if k >= reach and sorted(src[i - k:i + 1]) == sorted(tgt[j - k:j + 1]):
                return float(cost[i - k][j - k]) + k, k + 1
            k += 1
        return None


OP_T, OP_S, OP_I, OP_D, OP_M = 1, 2, 4, 8, 16      # operation bits
_STEPS = {OP_T: None, OP_S: ("S", 1, 1), OP_I: ("I", 0, 1), OP_D: ("D", 1, 0), OP_M: ("M", 1, 1)}


@dataclass(frozen=True)
class Operations:
    """The operation matrix: `flags[i][j]` holds the cheapest operations into cell (i, j) as bits,
    `widths[(i, j)]` the window (k + 1) of a transposition there."""

    flags: list[list[int]]
    widths: dict[tuple[int, int], int]

    def at(self, i: int, j: int, first_only: bool) -> list[tuple[str, int, int]]:
        """The operations into (i, j) in ChERRANT's order (T, S, I, D; or M), as (name, di, dj)."""
        bits, out = self.flags[i][j], []
        for bit, step in _STEPS.items():
            if bits & bit:
                if step is None:
                    k = self.widths[(i, j)]
                    step = (f"T{k}", k, k)
                out.append(step)
                if first_only:
                    break
        return out


def count_alignments(ops: Operations, first_only: bool) -> int:
    """How many cheapest alignments the backtrace enumerates (without enumerating them): paths
    counted over the cells reachable back from the last one only."""
    n, m = len(ops.flags) - 1, len(ops.flags[0]) - 1
    moves: dict[tuple[int, int], list[tuple[int, int]]] = {}
    todo = [(n, m)]
    while todo:
        cell = todo.pop()
        if cell in moves:
            continue
        i, j = cell
        moves[cell] = [] if i + j == 0 else [(i - di, j - dj) for _, di, dj in ops.at(i, j, first_only)]
        todo += [c for c in moves[cell] if c not in moves]
    counts: dict[tuple[int, int], int] = {}
    for cell in sorted(moves, key=sum):           # predecessors have smaller i + j
        counts[cell] = sum(counts[c] for c in moves[cell]) if moves[cell] else 1
    return counts[(n, m)]


def alignments(ops: Operations, first_only: bool) -> Iterable[list[Edit]]:
    """Every cheapest alignment, in ChERRANT's depth-first order, each from start to end."""
    n, m = len(ops.flags) - 1, len(ops.flags[0]) - 1
    stack: list[tuple[int, int, tuple[Edit, ...]]] = [(n, m, ())]
    while stack:
        i, j, tail = stack.pop()
        if i + j == 0:
            yield list(tail)
            continue
        for name, di, dj in reversed(ops.at(i, j, first_only)):     # a stack: reversed keeps DFS order
            stack.append((i - di, j - dj, ((name, i - di, i, j - dj, j), *tail)))


def _key(edit: Edit, tgt: Sequence[str]) -> Key:
    """compare_m2's key for a classified char-level edit: (start, end, correction without spaces)."""
    correction = "-NONE-" if edit[0] == "D" else "".join(tgt[edit[3]:edit[4]])
    return edit[1], edit[2], correction


def tokens(text: str) -> list[str]:
    """ChERRANT's char tokenizer: one token per character, "[缺失成分]" kept whole."""
    return " ".join(text).replace("[ 缺 失 成 分 ]", MISSING).split(" ")


def clean(text: str) -> str:
    """parallel_to_m2 drops all whitespace from a sentence."""
    return "".join(text.split())


@dataclass
class Annotation:
    """One sentence pair's pooled edits as compare_m2 reads them: key -> categories, in order."""

    edits: dict[Key, list[str]]
    timed_out: bool = False
    alignments: int = 0


class Annotator:
    """ChERRANT's `Annotator` (char granularity, strategy "all") with the time-out stand-in."""

    def __init__(self, resources: Resources, limit: int = ALIGNMENT_LIMIT) -> None:
        self.aligner = Aligner(resources)
        self.resources = resources
        self.limit = limit

    def target(self, text: str) -> str:
        return self.resources.simplify(clean(text))

    def annotate(self, source: str, target: str) -> Annotation:
        """Edits from `source` to `target` (a reply or a reference), whitespace dropped, the target
        simplified; a pair that would time out (or an empty sentence) is annotated against "无"."""
        src_text, tgt_text = clean(source), self.target(target)
        if src_text and tgt_text:
            annotation = self.pooled(src_text, tgt_text, self.limit)
            if not annotation.timed_out:
                return annotation
        fallback = self.pooled(src_text, TIMED_OUT_TARGET, None)
        return Annotation(fallback.edits, timed_out=True)

    def pooled(self, src_text: str, tgt_text: str, limit: int | None) -> Annotation:
        """The pooled edits of every distinct merged cheapest alignment (timed_out, and no edits,
        when there are more than `limit` alignments)."""
        if tgt_text == NO_EDITS or src_text == tgt_text:
            return Annotation({NOOP: ["noop"]}, alignments=1)
        if tgt_text == NOT_ANNOTATABLE:
            return Annotation({NOOP: ["NA"]}, alignments=1)
        src, tgt = tokens(src_text), tokens(tgt_text)
        ops = self.aligner.operations(src, tgt)
        first_only = abs(len(src) - len(tgt)) > 10
        if limit is not None:
            total = count_alignments(ops, first_only)
            if total > limit:
                return Annotation({}, timed_out=True, alignments=total)
        distinct: dict[tuple[Edit, ...], None] = {}
        total = 0
        for alignment in alignments(ops, first_only):
            total += 1
            distinct.setdefault(tuple(merge(alignment, src, tgt)), None)
        pooled: dict[Key, list[str]] = {}
        for edits in distinct:
            for edit in edits:
                pooled.setdefault(_key(edit, tgt), []).append(CATEGORIES[edit[0][0]])
        return Annotation(pooled or {NOOP: ["noop"]}, alignments=total)


def compare(hyp: dict[Key, list[str]], ref: dict[Key, list[str]]) -> tuple[int, int, int]:
    """compare_m2_for_evaluation's TP/FP/FN for one sentence, one annotator on each side."""
    if len(ref) == 1 and next(iter(ref.values()))[0] == "NA":
        return 0, 0, 0
    tp = fp = fn = 0
    for key, categories in hyp.items():
        if categories[0] == "noop":
            continue
        if key in ref:
            tp += len(ref[key])
        else:
            fp += len(categories)
    for key, categories in ref.items():
        if categories[0] != "noop" and key not in hyp:
            fn += len(categories)
    return tp, fp, fn


def f_beta(tp: int, fp: int, fn: int, beta: float = 0.5) -> float:
    """compare_m2's F-score (precision/recall 1.0 when there is nothing to count), unrounded."""
    precision = float(tp) / (tp + fp) if fp else 1.0
    recall = float(tp) / (tp + fn) if fn else 1.0
    if not precision + recall:
        return 0.0
    return float((1 + beta ** 2) * precision * recall) / ((beta ** 2 * precision) + recall)


def wsjd_inputs(prediction: str, reference: str) -> tuple[str, str]:
    """LawBench wsjd.py's clean-up: newlines and tabs dropped, the prediction cut to the reference's
    length + 5 (the raw reference's length), an empty prediction replaced by "无内容"."""
    cleaned = re.sub(r"\n|\t", "", prediction)
    if len(cleaned) - len(reference) > 5:
        cleaned = cleaned[:len(reference) + 5]
    return cleaned or "无内容", re.sub(r"\n|\t", "", reference)


def counts(annotator: Annotator, source: str, prediction: str, reference: str) -> tuple[int, int, int]:
    """(TP, FP, FN) of one 2-1 reply, as the official pipeline counts it."""
    hyp_text, ref_text = wsjd_inputs(prediction, reference)
    return compare(annotator.annotate(source, hyp_text).edits, annotator.annotate(source, ref_text).edits)


def corpus_f05(annotator: Annotator, sources: Sequence[str], predictions: Sequence[str],
               references: Sequence[str]) -> float:
    """LawBench's 2-1 score: corpus F0.5 over summed TP/FP/FN, rounded to 4 places as printed."""
    total: Counter[str] = Counter()
    for source, prediction, reference in zip(sources, predictions, references, strict=True):
        tp, fp, fn = counts(annotator, source, prediction, reference)
        total.update(tp=tp, fp=fp, fn=fn)
    return round(f_beta(total["tp"], total["fp"], total["fn"]), 4)
