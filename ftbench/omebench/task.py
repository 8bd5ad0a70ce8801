"""`omebench`: oMeBench, step-by-step organic reaction mechanism prediction (Xu et al., 2025).

Given reactants, products and conditions, the model writes the mechanism as a JSON list of
steps (type, subtype, intermediate SMILES) between [ANSWER] tags. Scoring is oMeS
(`ome_score.py`): predicted and gold steps are aligned by a weighted Needleman-Wunsch DP on
subtype and intermediate; each sample's score is S_partial (similarity-weighted, Morgan
Tanimoto >= 0.6), rounded to 2 decimals as in the released `scripts/run.py`; the metric is its
mean over reactions (the repo's `avg_S_partial`). A reply with no parsable JSON step list, or a
step lacking `subtype` or `intermediate_smiles`, scores 0, as in the released evaluator.

Data: the benchmark's published files (github.com/skylarkie/oMeBench, `data/`, MIT), read
from $FTBENCH_DATA/omebench/: test = `oMe_Gold.json` (196 expert-curated reactions, 858 steps,
each step with an expert `step_weight`); train/dev = `oMe_Silver.jsonl` (2,508 LLM-expanded
reactions built by substituting R groups into the gold/template mechanisms, with per-step
rationales). Dev is carved from Silver with `carve(rows, dev_fraction, seed)`; Silver rows whose
question equals a Gold question are dropped.

Choice where the public definition stops: Silver steps carry no `step_weight`, so dev (and
train) use uniform weights 1/N over a reaction's N steps; Gold (test) uses its own weights.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ftbench.base import Example, Split
from ftbench.omebench.ome_score import ome_scores
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
    return Example(id=ex_id, question=question_text(row), answer=json.dumps(gold), solution=rationale,
                   kind=level if level in KINDS else "",
                   meta={"reaction_id": row["reaction_id"], "name": row.get("name", "")})


def parse_steps(text: str) -> list[dict[str, str]] | None:
    """The JSON step list in `text` (a list, or an object with a `mechanism` list), else None."""
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
                and isinstance(s.get("intermediate_smiles"), str)
                for s in data):
            return data
    return None


@dataclass
class OMeBenchTask(TaskTexts):
    """`source="fixture"` reads the hand-written sample in `fixture/` (same file names and fields)."""

    name: str = "omebench"
    version: str = "1.0"
    metric: str = "oMeS_partial"
    source: str = "hub"
    dev_fraction: float = 0.05
    seed: int = 20_251_009
    source_url: str = REPO_URL
    license: str = "MIT"
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source == "fixture":
            self.dev_fraction = 0.34

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
        steps = [{k: s[k] for k in ("step", "type", "subtype", "intermediate_smiles")}
                 for s in json.loads(example.answer)]
        body = ",\n".join(json.dumps(s) for s in steps)
        answer = f"[ANSWER]\n[\n{body}\n]\n[/ANSWER]"
        return f"{example.solution}\n\n{answer}" if reasoning and example.solution else answer

    def extract(self, completion: str) -> str:
        """The step list between [ANSWER] tags (the last parsable block; the whole reply when untagged) as
        compact JSON of subtype + intermediate; '' when no valid step list is found."""
        blocks = _ANSWER_RE.findall(completion) or [completion]
        steps = next((found for block in reversed(blocks) if (found := parse_steps(block))), None)
        if steps is None:
            return ""
        return json.dumps([{"subtype": s["subtype"], "intermediate_smiles": s["intermediate_smiles"]} for s in steps])

    def score(self, prediction: str, example: Example) -> float:
        """Rounded S_partial of the predicted mechanism (0.0 for an empty prediction)."""
        steps = parse_steps(prediction) if prediction.strip() else None
        if not steps:
            return 0.0
        gold = [(s["subtype"], s["intermediate_smiles"], float(s["step_weight"])) for s in json.loads(example.answer)]
        _, partial = ome_scores(gold, [(s["subtype"], s["intermediate_smiles"]) for s in steps])
        return min(1.0, round(partial, 2))

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
