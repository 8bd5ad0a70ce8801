"""`openfindata`: Chinese financial-scenario questions from OpenFinData (East Money / OpenCompass).

Source: `openfindata_release.zip` from https://github.com/open-compass/OpenFinData (release
of Dec 2023), unzipped under `$FTBENCH_DATA/openfindata/openfindata_release/`: one JSON list
per sub-task. This task uses the nine files that OpenCompass scores (`OpenFinData_gen`, 650
items); the other ten files of the zip hold rubric-graded write-ups or compliance prompts
without a gold answer. Eight are multiple choice, rows `{question, A, B, C[, D[, E]], answer}`
with a letter as the answer; `entity_recognition` rows are `{question, answer}` where the
answer lists the entities, joined by the Chinese enumeration comma "、". Each file is a `kind`.

Splits: the release has none, so each file is carved on its own with `carve` and a fixed
seed (default 2024): half of its items go to test, then a fifth of the rest to dev, the rest
to train (test 328, dev 62, train 260 of the 650 items). Train items whose question also occurs in dev or
test are dropped.

Metric: accuracy over the test items. Lettered files: the chosen option letter(s) must equal
the gold. The letter is read from an explicit answer phrase ("答案：B", "答案是B", "选B",
"answer is B") or a reply that starts with the letter ("B. ..."); failing those, from the
last option letter standing alone in the reply, which is OpenCompass's
`last_capital_postprocess` restricted to the item's option letters. `entity_recognition`:
OpenCompass's keyword rule, every "、"-separated gold entity must occur in the reply.
OpenCompass reports each file separately; the single number here is the accuracy over all
test items of the nine files (files weighted by their item counts).

License: the repository's LICENSE is Apache-2.0, but its README asks that the data be used
for academic evaluation only and not for model training.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, carve, drop_held_out, fixture_path, local_file, read_rows

RELEASE_URL = "https://github.com/open-compass/OpenFinData/releases/download/release/openfindata_release.zip"
OPTION_COUNTS = {
    "emotion_identification": 3, "entity_disambiguation": 3, "financial_facts": 3,
    "data_inspection": 4, "financial_terminology": 4, "metric_calculation": 4, "value_extraction": 4,
    "intent_understanding": 5,
}
KEYWORD_FILES = ("entity_recognition",)
KINDS = (*OPTION_COUNTS, *KEYWORD_FILES)
ENUM_COMMA = "、"

_LETTERS = r"[A-E](?:\s*[、,，和及与/]\s*[A-E])*"
_END = r"(?=$|[\s.．、,，。;；:：)）\]】!！]|选项|项)"
_EXPLICIT = (
    re.compile(rf"答案\s*(?:是|为|应为|应该是|选)?\s*[:：]?\s*[（(【\[]?\s*({_LETTERS}){_END}"),
    re.compile(rf"(?:选择|选项|应选|选)\s*[:：]?\s*[（(【\[]?\s*({_LETTERS}){_END}"),
    re.compile(rf"answer\s*(?:is|:)\s*\(?\s*({_LETTERS}){_END}", re.IGNORECASE),
)
_LEADING = re.compile(rf"[（(【\[]?\s*({_LETTERS})\s*[)）】\]]?{_END}")
_LABEL = re.compile(r"^\s*(?:答案|answer)\s*[:：]\s*", re.IGNORECASE)
_ONLY_LETTERS = re.compile(r"[A-E]+")
_LONE_LETTER = re.compile(r"(?<![A-Za-z])[A-E](?![A-Za-z])")


def letters(text: str) -> str:
    """Option letters in `text`, unique and sorted ('C、A' -> 'AC')."""
    return "".join(sorted(set(re.findall(r"[A-E]", text))))


def keywords(answer: str) -> list[str]:
    """The gold entities of an entity_recognition answer."""
    return [k.strip() for k in answer.split(ENUM_COMMA) if k.strip()]


def to_example(row: Mapping[str, Any], file: str, index: int) -> Example:
    """One row of a release file as an Example (options appended to the question, OpenCompass layout)."""
    question, answer = str(row["question"]).strip(), str(row["answer"]).strip()
    meta = {"file": file}
    if "id" in row:
        meta["source_id"] = str(row["id"])
    if file in OPTION_COUNTS:
        options = "ABCDE"[:OPTION_COUNTS[file]]
        question += "".join(f"\n{letter}. {str(row[letter]).strip()}" for letter in options)
        gold = _LEADING.match(answer)
        if not gold or not set(letters(gold.group(1))) <= set(options):
            raise ValueError(f"openfindata: {file} item {index} has no option letter as answer: {answer!r}")
        answer, meta["options"] = letters(gold.group(1)), options
    return Example(id=f"{file}-{index:03d}", question=question, answer=answer, kind=file, meta=meta)


@dataclass
class OpenFinDataTask(TaskTexts):
    """OpenFinData's nine OpenCompass-scored files; `source="fixture"` reads the bundled hand-written sample."""

    name: str = "openfindata"
    version: str = "1.0"
    metric: str = "accuracy"
    source: str = "hub"
    source_url: str = RELEASE_URL
    license: str = "Apache-2.0 (README: academic evaluation only, not for model training)"
    kinds: tuple[str, ...] = KINDS
    seed: int = 2024
    test_fraction: float = 0.5
    dev_fraction: float = 0.2

    def _path(self, file: str) -> Path:
        relative = f"openfindata_release/{file}.json"
        if self.source == "fixture":
            return fixture_path(__file__, relative)
        return local_file(self.name, relative, RELEASE_URL)

    def _splits(self, file: str) -> dict[Split, list[Example]]:
        items = [to_example(row, file, i) for i, row in enumerate(read_rows(self._path(file)))]
        rest, test = carve(items, self.test_fraction, self.seed)
        train, dev = carve(rest, self.dev_fraction, self.seed)
        return {Split.TRAIN: drop_held_out(train, dev, test), Split.DEV: dev, Split.TEST: test}

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        return [e for file in KINDS for e in self._splits(file)[split]]

    def messages(self, question: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "你是一名专业的金融助手，熟悉中国金融市场、金融术语和金融数据。"},
            {"role": "user", "content": f"{question}\n\n请作答。"
                                        "选择题在最后一行写“答案：”加所选选项的字母（如“答案：B”）；"
                                        "要求列出实体的题目在最后一行写“答案：”加全部实体，用顿号“、”分隔。"},
        ]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return f"答案：{example.answer}"

    def extract(self, completion: str) -> str:
        """Option letters from an explicit or leading answer; otherwise the reply without an '答案：' label."""
        text = completion.strip()
        for pattern in _EXPLICIT:
            found = pattern.findall(text)
            if found:
                return letters(found[-1])
        body = _LABEL.sub("", text, count=1).strip()
        leading = _LEADING.match(body)
        return letters(leading.group(1)) if leading else body

    def score(self, prediction: str, example: Example) -> float:
        if example.kind in KEYWORD_FILES:
            gold = keywords(example.answer)
            return float(bool(gold) and all(k in prediction for k in gold))
        chosen = prediction.strip()
        if not _ONLY_LETTERS.fullmatch(chosen):
            lone = [x for x in _LONE_LETTER.findall(chosen) if x in example.meta.get("options", "ABCDE")]
            chosen = lone[-1] if lone else ""
        return float(chosen == example.answer)

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """Accuracy over all items (lettered files and entity_recognition together)."""
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
