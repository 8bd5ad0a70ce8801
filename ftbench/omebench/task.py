"""`omebench`: oMeBench, step-by-step organic reaction mechanism prediction (Xu et al., 2025).

Given reactants, products and conditions, the model writes the mechanism as a JSON list of
steps (type, subtype, intermediate SMILES) between [ANSWER] tags. Scoring is oMeS
(`ome_score.py`): predicted and gold steps are aligned by a weighted Needleman-Wunsch DP on
subtype and intermediate; each sample's score is S_partial (similarity-weighted, Morgan
Tanimoto >= 0.6), rounded to 2 decimals as in the released `scripts/run.py`; the metric is its
mean over reactions (the repo's `avg_S_partial`, which the repo then rounds to 3 decimals).

Answer extraction (`extraction="official"`, default) follows `scripts/run.py` of
github.com/skylarkie/oMeBench (commit 4ecae92, lines 537-564 and 611-630): the reply is
stripped; if it holds an [ANSWER] tag, the text after the FIRST tag is kept, cut at the next
[ANSWER] or [/ANSWER]; a block opening with a code fence loses its backticks and every
"json"/"JSON" + newline; if "is :" occurs, only the text after its first occurrence (up to a
second one) is kept. That text must parse as JSON: a list of step objects, or an object whose
`mechanism` is one. Anything else, a step that is not an object or lacks `subtype` or
`intermediate_smiles`, or an intermediate that is not a string, scores 0 (the released code
catches the error and records 0). A step's non-string subtype matches no gold step.
`extraction="lenient"` (opt-in, recorded in `version`) is this package's earlier reader: the
LAST tagged block holding a valid step list, fences and surrounding prose tolerated.

Data: the benchmark's published files (github.com/skylarkie/oMeBench, `data/`, MIT), read
from $FTBENCH_DATA/omebench/: test = `oMe_Gold.json` (196 expert-curated reactions, 858 steps,
each step with an expert `step_weight`); train/dev = `oMe_Silver.jsonl` (2,508 LLM-expanded
reactions built by substituting R groups into the gold/template mechanisms, with per-step
rationales). Dev is carved from Silver with `carve(rows, dev_fraction, seed)`; Silver rows whose
question equals a Gold question are dropped.

Choices where the public definition stops: Silver steps carry no `step_weight`, so dev (and
train) use uniform weights 1/N over a reaction's N steps; Gold (test) uses its own weights.
The prompt is this package's own wording of the benchmark's `prompts/default.txt` (same step
fields, the same type/subtype list, the same [ANSWER] tags).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ftbench.base import Example, Split
from ftbench.omebench.ome_score import PredStep, ome_scores
from ftbench.source import TaskTexts, carve, fixture_path, local_file, read_rows

KINDS = ("easy", "medium", "hard")
REPO_URL = "https://github.com/skylarkie/oMeBench/tree/main/data"
# (type, subtype) pairs the benchmark's prompt allows.
STEP_TYPES = (
    ("addition", "nucleophilic_addition"), ("addition", "electrophilic_addition"), ("addition", "radical_addition"),
    ("addition", "oxidative_addition"), ("elimination", "proton_elimination"),
    ("elimination", "leaving_group_elimination"), ("elimination", "radical_elimination"),
    ("elimination", "reductive_elimination"), ("substitution", "nucleophilic_substitution"),
    ("substitution", "electrophilic_substitution"), ("substitution", "radical_substitution"),
    ("rearrangement", "1,2-shift"), ("rearrangement", "radical_rearrangement"),
    ("rearrangement", "migratory insertion"), ("proton_transfer", "acid_base_proton_transfer"),
    ("electron_transfer", "single_electron_transfer"), ("radical", "radical_initiation"),
    ("radical", "radical_propagation"), ("radical", "radical_termination"), ("radical", "radical_coupling"),
    ("pericyclic", "cycloaddition"), ("pericyclic", "cycloreversion"), ("pericyclic", "electrocyclization"),
    ("pericyclic", "sigmatropic_rearrangement"), ("pericyclic", "group_transfer"), ("pericyclic", "ene_reaction"),
    ("pericyclic", "cheletropic_reaction"), ("cleavage", "heterolytic_cleavage"), ("cleavage", "homolytic_cleavage"),
    ("coordination", "coordination"), ("dissociation", "dissociation"),
)
EXTRACTIONS = ("official", "lenient")
OPEN_TAG, CLOSE_TAG = "[ANSWER]", "[/ANSWER]"
_ANSWER_RE = re.compile(r"\[ANSWER\](.*?)(?:\[/ANSWER\]|$)", re.DOTALL)
_FENCE_RE = re.compile(r"^```(?:json|JSON)?\s*|\s*```$")


def question_text(row: dict[str, Any]) -> str:
    return (f"Reactants (SMILES): {json.dumps(row['reactants_smiles'])}\n"
            f"Products (SMILES): {json.dumps(row['products_smiles'])}\n"
            f"Reaction conditions: {row['conditions']}")


def to_example(row: dict[str, Any], ex_id: str) -> Example:
    """One Gold or Silver reaction as an Example; steps without `step_weight` weigh 1/N."""
    steps = row["mechanism"]
    gold = [{"step": s["step"], "type": s["type"], "subtype": s["subtype"],
             "intermediate_smiles": s["intermediate_smiles"], "step_weight": s.get("step_weight", 1 / len(steps))}
            for s in steps]
    rationale = "\n".join(f"Step {s['step']} ({s['subtype']}): {s['rationale']}" for s in steps if s.get("rationale"))
    level = row.get("level", "")
    meta = {"reaction_id": row["reaction_id"], "name": row.get("name", "")}
    return Example(id=ex_id, question=question_text(row), answer=json.dumps(gold), solution=rationale,
                   kind=level if level in KINDS else "", meta=meta)


def official_answer_text(completion: str) -> str:
    """The text the released run.py hands to json.loads: first [ANSWER] block, fence and "is :" cleaning."""
    text = completion.strip()
    if OPEN_TAG in text:
        block = text.split(OPEN_TAG, 2)[1]                 # up to a second opening tag, if any
        text = block.partition(CLOSE_TAG)[0].strip()
    if text.startswith("```"):
        text = text.strip("`")
        for marker in ("json\n", "JSON\n"):
            text = text.replace(marker, "")
        text = text.strip()
    if "is :" in text:
        text = text.split("is :", 2)[1].strip()
    return text


def official_steps(text: str) -> list[PredStep] | None:
    """(subtype, intermediate) pairs of a JSON answer under the released evaluator's rules, else None.
    A non-string subtype becomes None (it equals no gold subtype); a non-string intermediate fails."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):                    # run.py keeps the string, which scores 0
        return None
    if isinstance(data, dict):
        data = data.get("mechanism", data)
    if not isinstance(data, list):
        return None
    steps: list[PredStep] = []
    for step in data:
        if not isinstance(step, dict) or "subtype" not in step or "intermediate_smiles" not in step:
            return None
        subtype, smiles = step["subtype"], step["intermediate_smiles"]
        if not isinstance(smiles, str):
            return None
        steps.append((subtype if isinstance(subtype, str) else None, smiles))
    return steps


def parse_steps(text: str) -> list[dict[str, str]] | None:
    """Lenient reader: the JSON step list in `text` (a list, or an object with a `mechanism` list,
    fenced or inside prose), else None; every step needs string `subtype` and `intermediate_smiles`."""
    text = _FENCE_RE.sub("", text.strip())
    candidates = [text]
    if "[" in text and "]" in text:
        candidates.append(text[text.index("["):text.rindex("]") + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = data.get("mechanism")
        if isinstance(data, list) and data and all(
                isinstance(s, dict) and isinstance(s.get("subtype"), str)
                and isinstance(s.get("intermediate_smiles"), str) for s in data):
            return data
    return None


def lenient_steps(completion: str) -> list[PredStep] | None:
    """The last tagged block holding a valid step list (the whole reply when untagged)."""
    blocks = _ANSWER_RE.findall(completion) or [completion]
    found = next((steps for block in reversed(blocks) if (steps := parse_steps(block))), None)
    return None if found is None else [(s["subtype"], s["intermediate_smiles"]) for s in found]


@dataclass
class OMeBenchTask(TaskTexts):
    """`source="fixture"` reads the hand-written sample in `fixture/` (same file names and fields)."""

    name: str = "omebench"
    metric: str = "oMeS_partial"
    source: str = "hub"
    extraction: str = "official"
    dev_fraction: float = 0.05
    seed: int = 20_251_009
    source_url: str = REPO_URL
    license: str = "MIT"
    kinds: tuple[str, ...] = KINDS
    version: str = field(init=False, default="")   # 2.0: official first-block extraction (1.0 read the last)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.extraction not in EXTRACTIONS:
            raise ValueError(f"omebench: extraction={self.extraction!r} is not one of {', '.join(EXTRACTIONS)}")
        if self.source == "fixture":
            self.dev_fraction = 0.34
        self.version = "2.0" if self.extraction == "official" else f"2.0+{self.extraction}"

    def _rows(self, filename: str) -> list[dict[str, Any]]:
        if self.source == "fixture":
            return read_rows(fixture_path(__file__, filename))
        return read_rows(local_file(self.name, filename, REPO_URL))

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        gold = [to_example(r, f"gold-{i:04d}") for i, r in enumerate(self._rows("oMe_Gold.json"))]
        if split is Split.TEST:
            return gold
        held_out = {e.question for e in gold}
        silver = [to_example(r, f"silver-{i:05d}") for i, r in enumerate(self._rows("oMe_Silver.jsonl"))]
        train, dev = carve([e for e in silver if e.question not in held_out], self.dev_fraction, self.seed)
        return train if split is Split.TRAIN else dev

    def messages(self, question: str) -> list[dict[str, str]]:
        allowed = "\n".join(f"- type {t}, subtype {s}" for t, s in STEP_TYPES)
        prompt = ("You are an expert in organic reaction mechanisms. Write the step-by-step mechanism of the "
                  "reaction below.\n\n"
                  f"{question}\n\n"
                  "Give every elementary step as an object with keys \"step\" (1, 2, ...), \"type\", \"subtype\" "
                  "(a pair from the list below, spelled exactly) and \"intermediate_smiles\" (a valid SMILES of the "
                  "species formed by that step). Allowed type/subtype pairs:\n"
                  f"{allowed}\n\n"
                  "You may reason first. Then put the JSON list of steps between [ANSWER] and [/ANSWER].")
        return [{"role": "user", "content": prompt}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        keys = ("step", "type", "subtype", "intermediate_smiles")
        steps = [{k: s[k] for k in keys} for s in json.loads(example.answer)]
        body = ",\n".join(json.dumps(s) for s in steps)
        answer = f"[ANSWER]\n[\n{body}\n]\n[/ANSWER]"
        return f"{example.solution}\n\n{answer}" if reasoning and example.solution else answer

    def extract(self, completion: str) -> str:
        """The predicted steps as compact JSON of subtype + intermediate ('' when the reply has none that
        the chosen extraction accepts)."""
        if self.extraction == "official":
            steps = official_steps(official_answer_text(completion))
        else:
            steps = lenient_steps(completion)
        if not steps:
            return ""
        return json.dumps([{"subtype": t, "intermediate_smiles": smi} for t, smi in steps])

    def score(self, prediction: str, example: Example) -> float:
        """Rounded S_partial of the predicted mechanism (0.0 for an empty or unreadable prediction)."""
        steps = official_steps(prediction) if prediction.strip() else None
        if not steps:
            return 0.0
        gold = [(s["subtype"], s["intermediate_smiles"], float(s["step_weight"])) for s in json.loads(example.answer)]
        _, partial = ome_scores(gold, steps)
        return min(1.0, round(partial, 2))

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        """Mean over reactions of the rounded S_partial (run.py's avg_S_partial, before its 3-decimal rounding)."""
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
