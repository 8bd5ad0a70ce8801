"""LawBench's per-task scoring rules (after LawBench/OpenCompass `evaluation_functions`), on raw model text.

Each rule scores one (prediction, reference) pair; `corpus_score` turns a sub-task's pairs
into the sub-task's official number. Where we differ from the official scripts:
- ROUGE-L: rouge-score's sentence-level ROUGE-L F on jieba tokens (official: rouge_chinese
  on jieba tokens, which is the same LCS F-measure for single-sentence inputs); an empty
  prediction scores 0 (official: replaced by "无内容").
- 2-1 (proofreading): F0.5 over character-level edits found with difflib, corpus-level
  TP/FP/FN (official: ChERRANT char-level M2 edits, which merge adjacent edits by rules).
- 3-3 (charges): a charge counts when it is a longest, non-overlapping match, so "合同诈骗"
  does not also count "诈骗" (official: any substring, so a perfect answer can score < 1).
- Chinese numerals: our own converter instead of cn2an (only integers matter here).
- Soft F1s (2-6, 2-10) use 2PR/(P+R) without the official +1e-10 in the denominator.
"""
from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from pathlib import Path

ROUGE_TASKS = ("1-1", "2-7", "3-2", "3-8")
NO_SENTENCE = math.log(216)            # 3-4/3-5: the distance given when no term is found
DISPUTE_FOCI = ("诉讼主体", "租金情况", "利息", "本金争议", "责任认定", "责任划分", "损失认定及处理",
                "原审判决是否适当", "合同效力", "财产分割", "责任承担", "鉴定结论采信问题", "诉讼时效", "违约",
                "合同解除", "肇事逃逸")
MARITAL_LABELS = ("婚后有子女", "限制行为能力子女抚养", "有夫妻共同财产", "支付抚养费", "不动产分割", "婚后分局",
                  "二次起诉离婚", "按月给付抚养费", "准予离婚", "有夫妻共同债务", "婚前个人财产", "法定离婚",
                  "不履行家庭义务", "存在非婚生子", "适当帮助", "不履行离婚协议", "损害赔偿", "感情不和分居满二年",
                  "子女随非抚养权人生活", "婚后个人财产")
TOPICS = ("婚姻家庭", "劳动纠纷", "交通事故", "债权债务", "刑事辩护", "合同纠纷", "房产纠纷", "侵权", "公司法",
          "医疗纠纷", "拆迁安置", "行政诉讼", "建设工程", "知识产权", "综合咨询", "人身损害", "涉外法律", "海事海商",
          "消费权益", "抵押担保")
EVENTS = ("支付/给付", "欺骗", "搜查/扣押", "要求/请求", "卖出", "买入", "获利", "拘捕", "鉴定", "同意/接受", "供述",
          "联络", "帮助/救助", "租用/借用", "受伤", "伪造", "卖淫", "伤害人身", "赔偿", "归还/偿还")
ENTITY_TYPES = ("犯罪嫌疑人", "受害人", "被盗货币", "物品价值", "盗窃获利", "被盗物品", "作案工具", "时间", "地点",
                "组织机构")
CHARGES = tuple(Path(__file__).with_name("charges.txt").read_text(encoding="utf-8").split())

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_SECTIONS = {"万": 10_000, "亿": 100_000_000}
_NUMERAL_RUN = re.compile("[零〇一二两三四五六七八九十百千万亿]+")


# ---- shared pieces -------------------------------------------------------------------------

def chinese_to_int(text: str) -> int | None:
    """The integer a run of Chinese numerals spells ("二百六十四" -> 264, "二〇一九" -> 2019); None if none."""
    if not text or any(ch not in _DIGITS and ch not in _UNITS and ch not in _SECTIONS for ch in text):
        return None
    if all(ch in _DIGITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        elif ch == "万":
            total += (section + (digit or 0)) * _SECTIONS[ch]
            section, digit = 0, None
        else:
            total = (total + section + (digit or 0)) * _SECTIONS[ch]
            section, digit = 0, None
    return total + section + (digit or 0)


def numerals_to_digits(text: str) -> str:
    """Chinese numerals in `text` replaced by Arabic digits (what cn2an.transform(..., "cn2an") does for integers)."""
    def convert(match: re.Match[str]) -> str:
        value = chinese_to_int(match.group(0))
        return match.group(0) if value is None else str(value)
    return _NUMERAL_RUN.sub(convert, text)


def set_f1(predicted: AbstractSet[Hashable], gold: AbstractSet[Hashable]) -> float:
    """F1 between two label sets (0 when either is empty)."""
    hits = len(predicted & gold)
    if not hits:
        return 0.0
    precision, recall = hits / len(predicted), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


def rc_f1(gold: str, prediction: str) -> float:
    """CAIL reading-comprehension F1: character overlap after lower-casing and dropping non-alphanumerics."""
    gold_chars = [c for c in gold.lower() if c.isalnum()]
    pred_chars = [c for c in prediction.lower() if c.isalnum()]
    if not gold_chars or not pred_chars:
        return float(gold_chars == pred_chars)
    same = sum((Counter(gold_chars) & Counter(pred_chars)).values())
    if not same:
        return 0.0
    precision, recall = same / len(pred_chars), same / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


def choice_correct(prediction: str, options: Sequence[str], answer: str) -> float:
    """LawBench's single-choice rule: the answer option appears and no other option does."""
    present = {o for o in options if o in prediction}
    return float(present == {answer})


def options_in(prediction: str, options: Sequence[str]) -> set[str]:
    return {o for o in options if o in prediction}


def longest_options_in(prediction: str, options: Sequence[str]) -> set[str]:
    """Options found as non-overlapping matches, longest first at each position."""
    by_length = sorted(options, key=len, reverse=True)
    found, i = set(), 0
    while i < len(prediction):
        hit = next((o for o in by_length if prediction.startswith(o, i)), None)
        if hit:
            found.add(hit)
        i += len(hit) if hit else 1
    return found


class _JiebaTokenizer:
    """rouge-score tokenizer: jieba words, whitespace dropped."""

    def __init__(self) -> None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._cut = jieba.lcut

    def tokenize(self, text: str) -> list[str]:
        return [w for w in self._cut(text) if w.strip()]


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_JiebaTokenizer())


def rouge_l(prediction: str, reference: str) -> float:
    if not prediction.strip():
        return 0.0
    return _rouge().score(reference, prediction)["rougeL"].fmeasure


# ---- task-specific rules -------------------------------------------------------------------

def choice_letter(answer: str, letters: str) -> str:
    """The gold option letter in "正确答案：A。" / "[正确答案]B" style references ('' if none)."""
    found = re.search(f"正确答案[\\]】:：]?\\s*([{letters}])", answer)
    return found.group(1) if found else ""


def entities(reference: str) -> dict[str, str]:
    """2-6 reference "类型:值;类型:值" as a dict (as the official parser reads it)."""
    out: dict[str, str] = {}
    for segment in reference.split(";") if reference.strip() else []:
        parts = segment.split(":")
        if len(parts) > 1:
            out[parts[0]] = parts[1]
    return out


def predicted_entities(prediction: str) -> dict[str, str]:
    """2-6 entities in a prediction: "类型:" or "类型：" followed by text up to a space or newline."""
    out: dict[str, str] = {}
    for etype in ENTITY_TYPES:
        for match in re.finditer(etype, prediction):
            end = match.end()
            if end >= len(prediction) - 2 or prediction[end] not in ":：":
                continue
            value = re.split("\n| ", prediction[end + 1:].strip())[0].strip()
            if value not in ("无", "未提及"):
                out[etype] = value
    return out


def entity_f1(prediction: str, reference: str) -> float:
    gold, found = entities(reference), predicted_entities(prediction)
    if not gold:
        return float(not found)
    overlap = sum(rc_f1(gold[t], v) for t, v in found.items() if t in gold)
    precision = overlap / len(found) if found else 0.0
    recall = overlap / len(gold)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def trigger_f1(prediction: str, reference: str) -> float:
    """2-10: words paired in order ("a;b" against "a;b"), soft-F1 of the pairs."""
    gold, found = reference.split(";"), prediction.split(";")
    overlap = sum(rc_f1(g, p) for g, p in zip(gold, found, strict=False))
    precision, recall = overlap / len(found), overlap / len(gold)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def article_numbers(text: str) -> set[int]:
    """3-1: the article numbers named in a "、"-separated answer (first number of each chunk)."""
    numbers: set[int] = set()
    for chunk in text.split("、"):
        chunk = re.sub(r"第(.*?)款", "", chunk.replace("万元", "元"))
        chunk = numerals_to_digits(re.sub(r"第(.*?)条", r"\1", chunk))
        digits = re.findall(r"\d+", chunk)
        if digits:
            numbers.add(int(digits[0]))
    return numbers


def sentence_months(prediction: str) -> int | None:
    """3-4/3-5: the first "N个月"/"N月" in the prediction, else the first "N年" x 12; None if none."""
    text = numerals_to_digits(prediction)
    months = [int(m) for m in re.findall(r"(\d+)个月", text)] + [int(m) for m in re.findall(r"(\d+)月", text)]
    if months:
        return months[0]
    years = re.findall(r"(\d+)年", text)
    return int(years[0]) * 12 if years else None


def sentence_distance(prediction: str, reference: str) -> float:
    """|log(gold+1) - log(predicted+1)| in months; log(216) when no term is found."""
    gold = int(re.findall(r"\d+", reference)[0])
    months = sentence_months(prediction)
    return NO_SENTENCE if months is None else abs(math.log(gold + 1) - math.log(months + 1))


def amount_correct(prediction: str, reference: str) -> float:
    """3-7: the gold amount appears among the numbers in the prediction."""
    gold = float(re.findall(r"\d+\.?\d*", reference)[0])
    return float(gold in {float(d) for d in re.findall(r"\d+\.?\d*", prediction)})


def proofread_edits(source: str, text: str) -> set[tuple[int, int, str]]:
    """Character edits turning `source` into `text`: (start, end, replacement)."""
    matcher = difflib.SequenceMatcher(None, source, text, autojunk=False)
    return {(i1, i2, text[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"}


def proofread_counts(prediction: str, reference: str, source: str) -> tuple[int, int, int]:
    """(TP, FP, FN) of the prediction's edits against the reference's, after the official clean-up."""
    prediction = re.sub(r"\n|\t", "", prediction)
    reference = re.sub(r"\n|\t", "", reference)
    if len(prediction) - len(reference) > 5:
        prediction = prediction[:len(reference) + 5]
    predicted, gold = proofread_edits(source, prediction or "无内容"), proofread_edits(source, reference)
    return len(predicted & gold), len(predicted - gold), len(gold - predicted)


def f_half(tp: int, fp: int, fn: int) -> float:
    """ERRANT's F0.5 (precision and recall are 1.0 when their denominators hold no errors)."""
    precision = tp / (tp + fp) if fp else 1.0
    recall = tp / (tp + fn) if fn else 1.0
    denominator = 0.25 * precision + recall
    return 1.25 * precision * recall / denominator if denominator else 0.0


SAMPLE_RULES: dict[str, Callable[[str, str], float]] = {
    "1-2": lambda p, r: choice_correct(p, "ABCD", choice_letter(r, "ABCD")),
    "2-2": lambda p, r: choice_correct(p, DISPUTE_FOCI, r[7:-1]),
    "2-3": lambda p, r: set_f1(options_in(p, MARITAL_LABELS), set(r[3:-1].split("、"))),
    "2-4": lambda p, r: choice_correct(p, TOPICS, r),
    "2-5": lambda p, r: rc_f1(r.replace("回答:", ""), p),
    "2-6": entity_f1,
    "2-8": lambda p, r: choice_correct(p, "ABCDE", choice_letter(r, "ABCDE")),
    "2-9": lambda p, r: set_f1(options_in(p, EVENTS), set(r.split(";"))),
    "2-10": trigger_f1,
    "3-1": lambda p, r: set_f1(article_numbers(p), article_numbers(r.replace("法条:刑法第", "第"))),
    "3-3": lambda p, r: set_f1(longest_options_in(p, CHARGES), set(r.replace("罪名:", "").split(";"))),
    "3-4": lambda p, r: max(0.0, 1 - sentence_distance(p, r) / NO_SENTENCE),
    "3-5": lambda p, r: max(0.0, 1 - sentence_distance(p, r) / NO_SENTENCE),
    "3-6": lambda p, r: choice_correct(p, "ABCD", choice_letter(r, "ABCD")),
    "3-7": amount_correct,
    "1-1": lambda p, r: rouge_l(p, r.replace("答案:", "")),
    **{task: rouge_l for task in ROUGE_TASKS[1:]},
}


def sample_score(task: str, prediction: str, reference: str, source: str = "") -> float:
    """One prediction's score under sub-task `task` (`source` is the sentence to proofread in 2-1)."""
    if task == "2-1":
        return f_half(*proofread_counts(prediction, reference, source))
    return SAMPLE_RULES[task](prediction, reference)


def corpus_score(task: str, predictions: Sequence[str], references: Sequence[str], sources: Sequence[str]) -> float:
    """The sub-task's official number over a whole split, in [0, 1]."""
    if not predictions:
        return 0.0
    if task == "2-1":
        tp, fp, fn = (sum(c) for c in zip(*(proofread_counts(p, r, s) for p, r, s in
                                             zip(predictions, references, sources, strict=True)), strict=False))
        return f_half(tp, fp, fn)
    if task in ("3-4", "3-5"):
        mean = sum(sentence_distance(p, r) for p, r in zip(predictions, references, strict=True)) / len(predictions)
        return min(1.0, max(0.0, 1 - mean / NO_SENTENCE))
    scores = [sample_score(task, p, r) for p, r in zip(predictions, references, strict=True)]
    return sum(scores) / len(scores)
