"""`hoc`: which of the ten hallmarks of cancer a PubMed abstract discusses; macro-F1.

Source: `bigbio/hallmarks_of_cancer`, config `hallmarks_of_cancer_source` (Baker et al.,
2016; BLURB's PMID split into train / validation / test). The repo's `main` branch holds only
a loading script, which `datasets` >= 4 refuses to run, so the rows are read from the Hub's
own Parquet export of that config: branch `refs/convert/parquet`, pinned to commit
`PARQUET_REVISION`, files `hallmarks_of_cancer_source/<split>/0000.parquet` (fetched with
`huggingface_hub`, which caches them and reads the cache offline). Source rows are sentences:
`document_id` "<PMID>_<sentence index>", `text`, `label` (ClassLabel ids over ten hallmarks
plus "none"). As in BLURB's HoC evaluator, sentences are grouped into their abstract and
an abstract's labels are the union of its sentences' labels without "none"; an example is
one abstract. Abstracts with no hallmark keep the gold answer "none" (an empty label set).

Metric (`aggregate`): macro-F1 over the hallmark labels with scikit-learn
(MultiLabelBinarizer + f1_score(average="macro")), abstract level, as BLURB computes it.
One deviation, for tiny splits only: a label that occurs in neither the gold nor the
predictions of the split is left out of the macro average (on the real test split every
hallmark occurs, so the score equals BLURB's). Unparseable replies count as the empty set.
`score` (per abstract, for diagnosis and rewards) is the F1 between predicted and gold
label sets (1 when both are "none"; 0 for an unparseable reply).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ftbench.base import Example, SourceUnavailable, Split
from ftbench.offline import offline_variable
from ftbench.source import TaskTexts, fixture_path, read_rows

HUB_ID = "bigbio/hallmarks_of_cancer"
HUB_CONFIG = "hallmarks_of_cancer_source"
# Head of the Hub's `refs/convert/parquet` branch when pinned ("Delete old duckdb index files");
# its Parquet files date from the converter's last "Update parquet files" (0a4b5d7).
PARQUET_REVISION = "b78c5a2c56ed30bb64f184b204c46362092cebdf"
# The source's ClassLabel names, in id order (id 7 is "none").
CLASS_NAMES = (
    "evading growth suppressors", "tumor promoting inflammation", "enabling replicative immortality",
    "cellular energetics", "resisting cell death", "activating invasion and metastasis",
    "genomic instability and mutation", "none", "inducing angiogenesis",
    "sustaining proliferative signaling", "avoiding immune destruction",
)
HALLMARKS = tuple(n for n in CLASS_NAMES if n != "none")
NONE = "none"
SOURCE_SPLITS = {Split.TRAIN: "train", Split.DEV: "validation", Split.TEST: "test"}
# A distinctive stem of each hallmark's name, so short or reworded names are still read.
_KEYS = {
    "evading growth suppressors": r"growth suppress", "tumor promoting inflammation": r"inflammat",
    "enabling replicative immortality": r"immortal", "cellular energetics": r"energetic",
    "resisting cell death": r"cell death", "activating invasion and metastasis": r"invasi|metasta",
    "genomic instability and mutation": r"instabilit|mutation", "inducing angiogenesis": r"angiogen",
    "sustaining proliferative signaling": r"proliferat", "avoiding immune destruction": r"immun",
}
_MARKER = re.compile(r"hallmarks?\s*:", re.IGNORECASE)
_NONE = re.compile(r"\bnone\b|\bno hallmarks?\b", re.IGNORECASE)


def label_name(label: int | str) -> str:
    """A source label (ClassLabel id, or its name) as its name."""
    return CLASS_NAMES[label] if isinstance(label, int) else str(label).strip().lower()


def format_labels(labels: set[str]) -> str:
    """Hallmark names in canonical order, '; '-separated; 'none' for the empty set."""
    return "; ".join(h for h in HALLMARKS if h in labels) or NONE


def parse_labels(answer: str) -> set[str]:
    """The hallmark names in a canonical answer string ('none' and '' give the empty set)."""
    return {h for h in (part.strip() for part in answer.split(";")) if h in HALLMARKS}


def to_examples(rows: list[dict[str, Any]], split: str) -> list[Example]:
    """Sentence rows grouped into abstracts (sentence order kept), labels unioned without 'none'."""
    sentences: dict[str, list[tuple[int, str]]] = defaultdict(list)
    labels: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        pmid, _, index = str(row["document_id"]).partition("_")
        sentences[pmid].append((int(index or 0), str(row["text"]).strip()))
        labels[pmid] |= {label_name(x) for x in row["label"]} - {NONE}
    return [Example(id=f"{split}-{pmid}", question=" ".join(t for _, t in sorted(sents)),
                    answer=format_labels(labels[pmid]))
            for pmid, sents in sentences.items()]


def parquet_download(split: str) -> dict[str, str]:
    """The `huggingface_hub.hf_hub_download` arguments of one source split's Parquet file."""
    return {"repo_id": HUB_ID, "repo_type": "dataset", "revision": PARQUET_REVISION,
            "filename": f"{HUB_CONFIG}/{split}/0000.parquet"}


def hub_rows(task: str, split: str) -> list[dict[str, Any]]:
    """Sentence rows of one source split from the pinned Parquet export (the Hub cache when
    offline); SourceUnavailable, saying how to get them, when neither can be reached."""
    import pyarrow.parquet as pq
    from huggingface_hub import hf_hub_download

    args = parquet_download(split)
    offline = offline_variable()
    try:
        path = hf_hub_download(args["repo_id"], args["filename"], repo_type=args["repo_type"],
                               revision=args["revision"], local_files_only=offline is not None)
    except Exception as err:   # noqa: BLE001 - not cached offline, or any download failure
        why = f"{offline}=1 and it is not cached" if offline else f"{type(err).__name__}: {err}"
        raise SourceUnavailable(
            f"{task}: needs {HUB_ID!r} ({split}: {args['filename']} at revision {PARQUET_REVISION}) from the "
            f"Hugging Face Hub, but {why}; run with network once, or use {task} with source=fixture "
            "for the bundled sample") from None
    return pq.read_table(path).to_pylist()


def _set_f1(predicted: set[str], gold: set[str]) -> float:
    if not predicted and not gold:
        return 1.0
    return 2 * len(predicted & gold) / (len(predicted) + len(gold))


@dataclass
class HocTask(TaskTexts):
    name: str = "hoc"
    version: str = "1.1"     # 1.1: rows from the pinned Parquet export (1.0: the loading script)
    metric: str = "macro_f1"
    source: str = "hub"
    source_url: str = "https://huggingface.co/datasets/bigbio/hallmarks_of_cancer"
    license: str = "GPL-3.0"
    kinds: tuple[str, ...] = ()

    def load(self, split: Split) -> list[Example]:
        name = SOURCE_SPLITS[Split(split)]
        rows = (read_rows(fixture_path(__file__, f"{name}.jsonl")) if self.source == "fixture"
                else hub_rows(self.name, name))
        return to_examples(rows, name)

    def messages(self, question: str) -> list[dict[str, str]]:
        names = "\n".join(f"- {h}" for h in HALLMARKS)
        return [{"role": "user", "content": (
            "Which hallmarks of cancer does this PubMed abstract discuss? Choose any number of:\n"
            f"{names}\n"
            "End your reply with a line \"Hallmarks: <names separated by ; >\", "
            "or \"Hallmarks: none\" if it discusses none of them.\n\n"
            f"Abstract: {question}")}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        return f"Hallmarks: {example.answer}"

    def extract(self, completion: str) -> str:
        """Hallmarks named after the last 'Hallmarks:' (else anywhere), matched by a distinctive
        stem of each name and returned canonical; 'none' if only that is said; else ''."""
        markers = list(_MARKER.finditer(completion))
        segment = completion[markers[-1].end():] if markers else completion
        text = " ".join(segment.lower().replace("-", " ").split())
        found = {h for h in HALLMARKS if re.search(_KEYS[h], text)}
        if found:
            return format_labels(found)
        return NONE if _NONE.search(text) else ""

    def score(self, prediction: str, example: Example) -> float:
        if not prediction.strip():
            return 0.0
        return _set_f1(parse_labels(prediction), parse_labels(example.answer))

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        from sklearn.metrics import f1_score
        from sklearn.preprocessing import MultiLabelBinarizer

        if not examples:
            return 0.0
        binarizer = MultiLabelBinarizer(classes=list(HALLMARKS))
        gold = binarizer.fit_transform([parse_labels(e.answer) for e in examples])
        predicted = binarizer.transform([parse_labels(p) for p in predictions])
        if len(predicted) != len(gold):
            raise ValueError(f"hoc: {len(predictions)} predictions for {len(examples)} examples")
        active = gold.any(axis=0) | predicted.any(axis=0)
        if not active.any():   # every gold and every prediction is 'none'
            return sum(self.score(p, e) for p, e in zip(predictions, examples, strict=False)) / len(examples)
        return float(f1_score(gold[:, active], predicted[:, active], average="macro", zero_division=0))
