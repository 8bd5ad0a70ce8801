"""`tomg_bench`: TOMG-Bench / S²-Bench, text-based open molecule generation (Li et al., 2024).

Nine subtasks (the task's kinds): MolEdit (AddComponent, DelComponent, SubComponent), MolOpt
(LogP, MR, QED) and MolCustom (AtomNum, BondNum, FunctionalGroup). The model answers with one
SMILES; there is no single gold molecule, so an answer is scored by whether it meets the
instruction, with RDKit, exactly as the benchmark's `evaluate.py` does (`chem.success`):
MolEdit counts the named functional group in source and answer (+1 added, -1 removed, both for
a substitution); MolOpt compares logP / MR / QED with the source ("lower"/"decrease" in the
instruction means lower, anything else higher); MolCustom compares element, bond or group
counts (bond kinds with target 0 are skipped, as in the released S²-Bench evaluator).
An invalid SMILES fails.

Metric: mean success rate over the subtasks present (the leaderboard's SR-bar / "Acc-bar",
the mean of the nine per-subtask success rates). Simplification: the weighted success rate
(WSR) is not reported, because it multiplies success by the mean Tanimoto similarity to the
source (MolEdit/MolOpt) or by novelty against ZINC-250k (MolCustom, a file not shipped), and
is therefore below 1 even for a perfect answer.

Data. Test: the benchmark's test sets, Hub `phenixace/S2-TOMG-Bench` (9 configs such as
`MolEdit_AddComponent`, split `test`, 5,000 rows each; `test_scale="mini"` uses
`phenixace/S2-TOMG-Bench-mini`, 500 each). These rows carry the constraints (source molecule,
group names, counts) but no reference molecule. Train and dev: OpenMolIns, the authors'
instruction-tuning set, Hub `phenixace/OpenMolIns-<scale>` (light 4.5k, small 18k, medium 45k,
large 90k, xlarge 1.2M rows; columns SubTask, Instruction, molecule = a molecule meeting the
instruction; one `train.csv` per repo, no loading script, so `datasets` >= 4 reads `main`
directly). Its constraints are parsed from the instruction text. Rows whose instruction
also appears in the test set are dropped; dev is carved from the rest with
`carve(rows, dev_fraction, seed)`.

Example.answer holds the constraint spec (canonical JSON); Example.solution holds a molecule
that meets it when one is known (OpenMolIns rows; in the fixture, test rows take theirs from
`fixture/test_references.json`, since the real test rows have none).
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, carve, fixture_path, hub_rows, read_rows
from ftbench.tomg_bench import chem

KINDS = ("AddComponent", "DelComponent", "SubComponent", "LogP", "MR", "QED",
         "AtomNum", "BondNum", "FunctionalGroup")
TASK_OF = {"AddComponent": "MolEdit", "DelComponent": "MolEdit", "SubComponent": "MolEdit",
           "LogP": "MolOpt", "MR": "MolOpt", "QED": "MolOpt",
           "AtomNum": "MolCustom", "BondNum": "MolCustom", "FunctionalGroup": "MolCustom"}
PROPERTY_OF = {"LogP": "logP", "MR": "MR", "QED": "qed"}
TEST_REPOS = {"full": "phenixace/S2-TOMG-Bench", "mini": "phenixace/S2-TOMG-Bench-mini"}
OPENMOLINS_SCALES = ("light", "small", "medium", "large", "xlarge")
SOURCE_URL = "https://huggingface.co/datasets/phenixace/S2-TOMG-Bench"

_GROUP_WORDS = sorted((g.replace("_", " ") for g in chem.GROUP_SMARTS), key=len, reverse=True)
_GROUP_RE = re.compile(r"\b(" + "|".join(map(re.escape, _GROUP_WORDS)) + r")\b")
_ADDED_RE = re.compile(r"with an?\s+(" + "|".join(map(re.escape, _GROUP_WORDS)) + r")\b")
_LABEL_RE = re.compile(r"molecule[\"'*]*\s*[:=][\s\"'`*]*([^\s\"'`*,;]+)", re.IGNORECASE)


def config_name(kind: str) -> str:
    """The Hub config (and fixture file stem) of a subtask, e.g. MolEdit_AddComponent."""
    return f"{TASK_OF[kind]}_{kind}"


def _counts(text: str, names: list[str], noun: str) -> dict[str, int]:
    """Counts such as '3 nitrogen atoms' for each name (0 when not mentioned)."""
    found = {m.group(2): int(m.group(1)) for m in
             re.finditer(rf"(\d+)\s+({'|'.join(map(re.escape, names))})\s+{noun}s?\b", text)}
    return {n: found.get(n, 0) for n in names}


def _source_smiles(instruction: str) -> str:
    """The molecule named in an instruction: its longest token that RDKit parses."""
    tokens = sorted((t.rstrip(".,") for t in instruction.split()), key=len, reverse=True)
    return next((t for t in tokens if chem.mol(t) is not None), "")


def _edit(kind: str, instruction: str) -> dict[str, Any]:
    """Added/removed groups of a MolEdit instruction (robust to the swapped-slot templates)."""
    names = [m.group(1).replace(" ", "_") for m in _GROUP_RE.finditer(instruction)]
    if kind == "SubComponent":
        added = _ADDED_RE.search(instruction)
        add = added.group(1).replace(" ", "_") if added else ""
        rest = [n for n in names if n != add] or [add]
        return {"add": add, "remove": rest[0]}
    group = names[0] if names else ""
    return {"add": group} if kind == "AddComponent" else {"remove": group}


def spec_from_row(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """The constraints an answer must meet: from the test row's columns, or, for an
    OpenMolIns row (which has a SubTask column), parsed from its instruction."""
    text, parsed = row["Instruction"], "SubTask" in row
    if kind == "AtomNum":
        names = list(chem.ELEMENTS)
        return {"atoms": _counts(text, names, "atom") if parsed else {n: int(row[n]) for n in names}}
    if kind == "BondNum":
        names = list(chem.BOND_KINDS)
        return {"bonds": _counts(text, names, "bond") if parsed else {n: int(row[n]) for n in names}}
    if kind == "FunctionalGroup":
        if parsed:
            words = _counts(text, [g.replace("_", " ") for g in chem.CUSTOM_GROUPS], "group")
            return {"groups": {w.replace(" ", "_"): n for w, n in words.items()}}
        column = {"benzene_ring": "benzene rings"}
        return {"groups": {g: int(row[column.get(g, g)]) for g in chem.CUSTOM_GROUPS}}
    source = _source_smiles(text) if parsed else row["molecule"]
    if kind in PROPERTY_OF:
        lower = "lower" in text or "decrease" in text
        return {"molecule": source, "property": PROPERTY_OF[kind], "direction": "lower" if lower else "higher"}
    if parsed:
        return {"molecule": source, **_edit(kind, text)}
    groups = {key: str(row[col]).replace(" ", "_") for key, col in (("add", "added_group"), ("remove", "removed_group"))
              if row.get(col)}
    return {"molecule": source, **groups}


def to_example(row: dict[str, Any], kind: str, ex_id: str, reference: str = "") -> Example:
    """One source row (test config row or OpenMolIns row) as an Example."""
    if kind not in KINDS:
        raise ValueError(f"tomg_bench: unknown subtask {kind!r}; expected one of {KINDS}")
    solution = row["molecule"] if "SubTask" in row else reference
    return Example(id=ex_id, question=row["Instruction"], answer=json.dumps(spec_from_row(row, kind), sort_keys=True),
                   solution=solution, kind=kind, meta={"task": TASK_OF[kind]})


@dataclass
class TomgBenchTask(TaskTexts):
    """`source="fixture"` reads the hand-written sample in `fixture/` (same files and columns)."""

    name: str = "tomg_bench"
    version: str = "1.0"
    metric: str = "mean_success_rate"
    source: str = "hub"
    test_scale: str = "full"
    openmolins_scale: str = "large"
    dev_fraction: float = 0.01
    seed: int = 20_241_219
    source_url: str = SOURCE_URL
    license: str = "Apache-2.0 (S2-TOMG-Bench on the Hub); OpenMolIns per its Hub card"
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.test_scale not in TEST_REPOS:
            raise ValueError(f"tomg_bench: test_scale={self.test_scale!r} is not one of {tuple(TEST_REPOS)}")
        if self.openmolins_scale not in OPENMOLINS_SCALES:
            raise ValueError(f"tomg_bench: openmolins_scale={self.openmolins_scale!r} "
                             f"is not one of {OPENMOLINS_SCALES}")
        if self.source == "fixture":
            self.dev_fraction = 0.34

    def _test(self) -> list[Example]:
        references: dict[str, str] = {}
        if self.source == "fixture":
            references = json.loads(fixture_path(__file__, "test_references.json").read_text(encoding="utf-8"))
        out = []
        for kind in KINDS:
            config = config_name(kind)
            if self.source == "fixture":
                rows = read_rows(fixture_path(__file__, f"{config}.csv"))
            else:
                rows = hub_rows(self.name, TEST_REPOS[self.test_scale], "test", config)
            out += [to_example(r, kind, f"test-{config}-{i:05d}", references.get(f"{config}:{i}", ""))
                    for i, r in enumerate(rows)]
        return out

    def _train_dev(self) -> tuple[list[Example], list[Example]]:
        if self.source == "fixture":
            rows = read_rows(fixture_path(__file__, "OpenMolIns-train.csv"))
        else:
            rows = hub_rows(self.name, f"phenixace/OpenMolIns-{self.openmolins_scale}", "train")
        held_out = {e.question for e in self._test()}
        examples = [to_example(r, r["SubTask"], f"omi-{i:07d}") for i, r in enumerate(rows)
                    if r["SubTask"] in KINDS and r["Instruction"] not in held_out]
        return carve(examples, self.dev_fraction, self.seed)

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        if split is Split.TEST:
            return self._test()
        train, dev = self._train_dev()
        return train if split is Split.TRAIN else dev

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "system",
                 "content": "You are a chemist's assistant. Propose one molecule that satisfies the request."},
                {"role": "user", "content": f"{question}\nYou may reason first, but end your reply with one line of "
                                            "the form\nMolecule: <SMILES>"}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        """`Molecule: <SMILES>` with the known molecule (no worked reasoning exists for this task)."""
        if not example.solution:
            raise ValueError(f"tomg_bench: {example.id} has no reference molecule (open-ended test rows carry only "
                             "constraints); train on OpenMolIns rows")
        return f"Molecule: {example.solution}"

    def extract(self, completion: str) -> str:
        """The SMILES after the last `Molecule:` label (also `{"molecule": ...}`); a reply that is a
        single bare token counts as the SMILES; '' otherwise."""
        found = _LABEL_RE.findall(completion)
        if found:
            return _trim(found[-1])
        tokens = completion.split()
        return _trim(tokens[0]) if len(tokens) == 1 else ""

    def score(self, prediction: str, example: Example) -> float:
        return float(chem.success(prediction.strip(), json.loads(example.answer)))

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """Mean over subtasks of each subtask's success rate."""
        by_kind: dict[str, list[float]] = defaultdict(list)
        for p, e in zip(predictions, examples, strict=True):
            by_kind[e.kind].append(self.score(p, e))
        rates = [sum(s) / len(s) for s in by_kind.values()]
        return sum(rates) / len(rates) if rates else 0.0


def _trim(token: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets that trail a SMILES."""
    token = token.rstrip(".,;:")
    for open_, close in (("(", ")"), ("[", "]")):
        while token.endswith(close) and token.count(close) > token.count(open_):
            token = token[:-1]
    return token
