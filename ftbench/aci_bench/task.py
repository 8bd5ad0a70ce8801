"""`aci_bench`: write the clinical visit note for a doctor-patient conversation (ACI-Bench).

Source: the challenge CSVs of ACI-Bench (Yim et al., Scientific Data 2023), published in
https://github.com/wyim/aci-bench under `data/challenge_data/`, one file per split, columns
`dataset,encounter_id,dialogue,note` (`dataset` is the collection: aci, virtassist or
virtscribe). Put them under `$FTBENCH_DATA/aci_bench/challenge_data/`. The published splits
are used as they are, nothing is carved: train = `train.csv` (67 encounters), dev =
`valid.csv` (20), test = the three MEDIQA test sets `clinicalnlp_taskB_test1.csv`,
`clinicalnlp_taskC_test2.csv` and `clef_taskC_test3.csv` (40 each, 120 in all; narrow with
`test_sets`). Hub copies exist (e.g. `mkieffer/ACI-Bench`) but are third-party re-uploads,
so the authors' GitHub files are the canonical source here.

Metric: ROUGE-1 F-measure of the generated note against the reference note, computed per
note with Google's `rouge-score` (its default tokenizer, no stemming: what the `evaluate`
ROUGE wrapper used by the benchmark's `evaluation/evaluate_fullnote.py` runs by default),
then averaged over notes, as that script reports its 'ALL' row. The benchmark's other
numbers (ROUGE-2/L, BERTScore, BLEURT, UMLS overlap, per-section scores) are not computed.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, fixture_path, local_file, read_rows

REPO_URL = "https://github.com/wyim/aci-bench"
FILES_URL = f"{REPO_URL}/tree/main/data/challenge_data"
KINDS = ("aci", "virtassist", "virtscribe")
TEST_SETS = ("clinicalnlp_taskB_test1", "clinicalnlp_taskC_test2", "clef_taskC_test3")
_LABEL = re.compile(r"^\s*(?:clinical\s+)?(?:visit\s+)?note\s*:\s*", re.IGNORECASE)


def to_example(row: Mapping[str, Any], source_file: str) -> Example:
    """One challenge-CSV row (dataset, encounter_id, dialogue, note) as an Example."""
    row = {str(k).lstrip("\ufeff").strip(): v for k, v in row.items()}
    return Example(id=str(row["encounter_id"]).strip(), question=str(row["dialogue"]).strip(),
                   answer=str(row["note"]).strip(), kind=str(row["dataset"]).strip().lower(),
                   meta={"source_file": source_file})


@dataclass
class AciBenchTask(TaskTexts):
    """ACI-Bench full-note generation; `source="fixture"` reads the bundled hand-written CSVs."""

    name: str = "aci_bench"
    version: str = "1.0"
    metric: str = "rouge1_f"
    source: str = "hub"
    source_url: str = FILES_URL
    license: str = "CC-BY-4.0"
    kinds: tuple[str, ...] = KINDS
    test_sets: tuple[str, ...] = TEST_SETS

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = set(self.test_sets) - set(TEST_SETS)
        if not self.test_sets or unknown:
            raise ValueError(f"{self.name}: test_sets must be a non-empty subset of {TEST_SETS}, got {self.test_sets}")

    def _path(self, stem: str) -> Path:
        relative = f"challenge_data/{stem}.csv"
        if self.source == "fixture":
            return fixture_path(__file__, relative)
        return local_file(self.name, relative, FILES_URL)

    def _read(self, stem: str) -> list[Example]:
        return [to_example(row, stem) for row in read_rows(self._path(stem))]

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        if split is Split.TRAIN:
            return self._read("train")
        if split is Split.DEV:
            return self._read("valid")
        return [e for stem in self.test_sets for e in self._read(stem)]

    def messages(self, question: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "You are a medical scribe. You write the clinical visit note for a "
                                          "doctor-patient encounter from its transcript."},
            {"role": "user", "content": "Write the full clinical note for this visit (sections such as CHIEF "
                                        "COMPLAINT, HISTORY OF PRESENT ILLNESS, PHYSICAL EXAMINATION, RESULTS, "
                                        "ASSESSMENT AND PLAN, as the conversation supports). Reply with the note "
                                        f"only.\n\nTranscript:\n{question}"},
        ]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return example.answer

    def extract(self, completion: str) -> str:
        """The completion without surrounding space and without a leading 'Note:' label."""
        return _LABEL.sub("", completion.strip(), count=1).strip()

    @cached_property
    def _scorer(self) -> Any:
        from rouge_score import rouge_scorer

        return rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False)

    def score(self, prediction: str, example: Example) -> float:
        """ROUGE-1 F-measure of one note against its reference."""
        return float(self._scorer.score(example.answer, prediction)["rouge1"].fmeasure)

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """Mean over notes of the per-note ROUGE-1 F-measure (the benchmark's 'ALL' rouge1)."""
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
