"""`openfindata`: Chinese financial-scenario questions from OpenFinData (East Money / OpenCompass).

Source: `openfindata_release.zip` from https://github.com/open-compass/OpenFinData (release
of Dec 2023), unzipped under `$FTBENCH_DATA/openfindata/openfindata_release/`: one JSON list
per sub-task. This task uses the nine files that OpenCompass scores (`OpenFinData_gen`, 650
items); the other ten files of the zip hold rubric-graded write-ups or compliance prompts
without a gold answer. Eight are multiple choice, rows `{question, A, B, C[, D[, E]], answer}`
with a letter as the answer; `entity_recognition` rows are `{question, answer}` where the
answer lists the entities, joined by the Chinese enumeration comma "、". Each file is a `kind`.

Splits (`split_mode`, recorded in `version`): the release is a test set only, and its README
asks that it not be used for model training.
- "official" (default): `ftbench.source.official_splits` over the nine files in order: test is
  the whole set less `dev_size` items (default 50; 9 for the 36-item fixture) carved with
  `seed` (default 2024) as dev; train is empty (training data must come from elsewhere).
- "carve" (opt-in, against the data's stated wish): each file carved on its own, half to test,
  a fifth of the rest to dev, the rest to train (328 / 62 / 260); train drops questions that
  also occur in dev or test.

Metric, as OpenCompass scores it (opencompass `configs/datasets/OpenFinData/
OpenFinData_gen_46dedb.py` and `datasets/OpenFinData.py`, commit a5acc4b):
- lettered files: `last_capital_postprocess` (opencompass `utils/text_postprocessors.py`),
  i.e. the last character of the whole reply that is an upper-case letter (any script; "ROE"
  gives "E"), must equal the gold answer (AccEvaluator's exact match);
- `entity_recognition`: OpenFinDataKWEvaluator, every "、"-separated piece of the gold answer
  must occur in the reply (extra entities cost nothing);
- each file's accuracy separately; `aggregate` is their unweighted mean over the files
  present (examples grouped by `kind`), the naive average OpenCompass's summary groups use.
  OpenCompass prints no single OpenFinData figure; the mean is this package's choice.
Documented deviations: the prompt is this package's (a system line and an instruction to end
with "答案：<letter>"; OpenCompass's zero-shot template ends the question with "答案: "); gold
answers are whitespace-stripped (OpenCompass compares the raw string);
`extraction="answer_phrase"` (opt-in, in `version`) first reads an explicit answer phrase
("答案：B", "答案是B", "选B", "answer is B") and scores its letter, which OpenCompass does not do.

License: the repository's LICENSE is Apache-2.0, but its README asks that the data be used
for academic evaluation only and not for model training.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import (
    OFFICIAL_DEV_SIZE,
    TaskTexts,
    carve,
    check_split_mode,
    drop_held_out,
    fixture_path,
    local_file,
    official_splits,
    read_rows,
)

RELEASE_URL = "https://github.com/open-compass/OpenFinData/releases/download/release/openfindata_release.zip"
OPTION_COUNTS = {
    "emotion_identification": 3, "entity_disambiguation": 3, "financial_facts": 3,
    "data_inspection": 4, "financial_terminology": 4, "metric_calculation": 4, "value_extraction": 4,
    "intent_understanding": 5,
}
KEYWORD_FILES = ("entity_recognition",)
KINDS = (*OPTION_COUNTS, *KEYWORD_FILES)
ENUM_COMMA = "、"
EXTRACTIONS = ("opencompass", "answer_phrase")
FIXTURE_DEV_SIZE = 9

_END = r"(?=$|[\s.．、,，。;；:：)）\]】!！]|选项|项)"
_PHRASES = (
    re.compile(rf"答案\s*(?:是|为|应为|应该是|选)?\s*[:：]?\s*[（(【\[]?\s*([A-E]){_END}"),
    re.compile(rf"(?:选择|选项|应选|选)\s*[:：]?\s*[（(【\[]?\s*([A-E]){_END}"),
    re.compile(rf"answer\s*(?:is|:)\s*\(?\s*([A-E]){_END}", re.IGNORECASE),
)


def last_capital(text: str) -> str:
    """The last upper-case character of `text` ('' when none): OpenCompass's last_capital_postprocess rule."""
    return next((ch for ch in reversed(text) if ch.isupper()), "")


def keywords_hit(prediction: str, answer: str) -> bool:
    """OpenFinDataKWEvaluator's rule: every '、'-separated piece of `answer` occurs in `prediction`."""
    return all(piece in prediction for piece in answer.split(ENUM_COMMA))


def to_example(row: Mapping[str, Any], file: str, index: int) -> Example:
    """One row of a release file as an Example (options appended to the question, OpenCompass layout).
    A gold answer that is not a single option letter is kept as is: no reply can match it, as in OpenCompass."""
    question, answer = str(row["question"]).strip(), str(row["answer"]).strip()
    if not answer:
        raise ValueError(f"openfindata: {file} item {index} has an empty answer")
    meta = {"file": file}
    if "id" in row:
        meta["source_id"] = str(row["id"])
    if file in OPTION_COUNTS:
        question += "".join(f"\n{letter}. {str(row[letter]).strip()}" for letter in "ABCDE"[:OPTION_COUNTS[file]])
    return Example(id=f"{file}-{index:03d}", question=question, answer=answer, kind=file, meta=meta)


@dataclass
class OpenFinDataTask(TaskTexts):
    """OpenFinData's nine OpenCompass-scored files; `source="fixture"` reads the bundled hand-written sample."""

    name: str = "openfindata"
    metric: str = "accuracy"
    source: str = "hub"
    source_url: str = RELEASE_URL
    license: str = "Apache-2.0 (README: academic evaluation only, not for model training)"
    kinds: tuple[str, ...] = KINDS
    split_mode: str = "official"
    extraction: str = "opencompass"
    seed: int = 2024
    dev_size: int | None = None          # split_mode=official; None: 50 (9 on the fixture)
    test_fraction: float = 0.5           # split_mode=carve
    dev_fraction: float = 0.2            # split_mode=carve
    version: str = field(init=False, default="")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_split_mode(self.name, self.split_mode)
        if self.extraction not in EXTRACTIONS:
            raise ValueError(f"openfindata: extraction={self.extraction!r} is not one of {', '.join(EXTRACTIONS)}")
        if self.dev_size is None:
            self.dev_size = FIXTURE_DEV_SIZE if self.source == "fixture" else OFFICIAL_DEV_SIZE
        self.version = self._version()

    def _version(self) -> str:
        """2.0: OpenCompass scoring (last capital, per-file mean) and split modes; 1.0 pooled a phrase reader."""
        if self.split_mode == "official":
            splits = f"official-dev{self.dev_size}-seed{self.seed}"
        else:
            splits = f"carve-test{self.test_fraction:g}-dev{self.dev_fraction:g}-seed{self.seed}"
        suffix = "" if self.extraction == "opencompass" else f"+{self.extraction}"
        return f"2.0/{splits}{suffix}"

    def _path(self, file: str) -> Path:
        relative = f"openfindata_release/{file}.json"
        if self.source == "fixture":
            return fixture_path(__file__, relative)
        return local_file(self.name, relative, RELEASE_URL)

    def _items(self, file: str) -> list[Example]:
        return [to_example(row, file, i) for i, row in enumerate(read_rows(self._path(file)))]

    def _carved(self, file: str) -> dict[str, list[Example]]:
        rest, test = carve(self._items(file), self.test_fraction, self.seed)
        train, dev = carve(rest, self.dev_fraction, self.seed)
        return {"train": drop_held_out(train, dev, test), "dev": dev, "test": test}

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        if self.split_mode == "carve":
            return [e for file in KINDS for e in self._carved(file)[split.value]]
        items = [e for file in KINDS for e in self._items(file)]
        dev_size = OFFICIAL_DEV_SIZE if self.dev_size is None else self.dev_size
        return official_splits(items, self.seed, dev_size=dev_size)[split.value]

    def messages(self, question: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "你是一名专业的金融助手，熟悉中国金融市场、金融术语和金融数据。"},
            {"role": "user", "content": f"{question}\n\n请作答。选择题在最后一行写“答案：”加所选选项的字母"
                                        "（如“答案：B”），其后不要再写任何英文大写字母；"
                                        "要求列出实体的题目在最后一行写“答案：”加全部实体，用顿号“、”分隔。"},
        ]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return f"答案：{example.answer}"

    def extract(self, completion: str) -> str:
        """OpenCompass scores the whole reply, so by default it is returned unchanged; with
        extraction="answer_phrase", the letter of the last explicit answer phrase when there is one."""
        if self.extraction == "answer_phrase":
            for pattern in _PHRASES:
                if found := pattern.findall(completion):
                    return found[-1]
        return completion

    def score(self, prediction: str, example: Example) -> float:
        if example.kind in KEYWORD_FILES:
            return float(keywords_hit(prediction, example.answer))
        return float(last_capital(prediction) == example.answer)

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """Unweighted mean over the files (kinds) present of each file's accuracy, as OpenCompass reports them."""
        per_file: dict[str, list[float]] = defaultdict(list)
        for prediction, example in zip(predictions, examples, strict=True):
            per_file[example.kind].append(self.score(prediction, example))
        accuracies = [sum(scores) / len(scores) for scores in per_file.values()]
        return sum(accuracies) / len(accuracies) if accuracies else 0.0
