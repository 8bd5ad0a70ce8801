"""omebench: extraction + scoring cross-checked against a transcription of the released evaluator.

oMeBench publishes no model predictions with their scores (github.com/skylarkie/oMeBench at
commit 4ecae92 holds data, prompts and scripts only), so no published figure can be reproduced.
Instead, `_released_score` below transcribes, for tests only, what `scripts/run.py` does to a
reply (lines 537-564: first [ANSWER] block, fence and "is :" cleaning, json.loads; lines
611-640: dict -> `mechanism`, list check, per-step key access, any error scores 0, S_partial
rounded to 2 decimals) and what `scripts/utils_eval.py` computes (oMeS with its rank and
penalty tie-breakers, RDKit called directly, so a non-string SMILES raises as it does there).
Random and adversarial replies must get the same per-reaction score from ftbench.
"""
from __future__ import annotations

import json
import random
from typing import Any

import pytest

pytest.importorskip("rdkit")

from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem.rdFingerprintGenerator import GetMorganGenerator

from ftbench import Split, get_task
from ftbench.base import Example

RDLogger.DisableLog("rdApp.*")
_GEN = GetMorganGenerator(radius=2, fpSize=2048)


def _can(smi: Any) -> str:
    mol = Chem.MolFromSmiles(smi)                       # raises on a non-string, as in utils_eval.py
    return "" if mol is None else Chem.MolToSmiles(mol, canonical=True)


def _tanimoto(a: str, b: str) -> float:
    ma, mb = Chem.MolFromSmiles(a), Chem.MolFromSmiles(b)
    if ma is None or mb is None:
        return 0.0
    return DataStructs.TanimotoSimilarity(_GEN.GetFingerprint(ma), _GEN.GetFingerprint(mb))


def _released_omes_partial(gold: list, pred: list, tau: float = 0.6) -> float:
    """utils_eval.oMeS, S_partial only (with the rank and penalty keys of its max)."""
    n, m, step = len(gold), len(pred), 1e-6
    cell = [[(0.0, 0.0, 0.0)] * (m + 1) for _ in range(n + 1)]          # (tot, par, pen)
    for i in range(1, n + 1):
        cell[i][0] = (0.0, 0.0, cell[i - 1][0][2] - step)
    for j in range(1, m + 1):
        cell[0][j] = (0.0, 0.0, cell[0][j - 1][2] - step)
    gold_can, pred_can = [_can(s) for _, s, _ in gold], [_can(s) for _, s in pred]
    for i in range(1, n + 1):
        g_type, g_smi, w = gold[i - 1]
        for j in range(1, m + 1):
            p_type, p_smi = pred[j - 1]
            if g_type == p_type:
                add_tot = w if (gold_can[i - 1] == pred_can[j - 1] and gold_can[i - 1]) else 0.0
                sim = _tanimoto(g_smi, p_smi)
                add_par = w * (0.0 if sim < tau else sim) if (gold_can[i - 1] and pred_can[j - 1]) else 0.0
                diag_pen, diag_rank = 0.0, 3
            else:
                add_tot = add_par = 0.0
                diag_pen, diag_rank = -step, 2
            up, left, diag = cell[i - 1][j], cell[i][j - 1], cell[i - 1][j - 1]
            options = [(up[0], up[1], 1, up[2] - step), (left[0], left[1], 1, left[2] - step),
                       (diag[0] + add_tot, diag[1] + add_par, diag_rank, diag[2] + diag_pen)]
            best = max(options)
            cell[i][j] = (best[0], best[1], best[3])
    return round(cell[n][m][1], 2)


def _released_score(reply: str, gold_mechanism: list[dict]) -> float:
    """run.py: clean the reply, parse it, then score it as evaluate_results does (errors -> 0)."""
    raw = reply.strip()
    if "[ANSWER]" in raw:
        if "[/ANSWER]" in raw:
            raw = raw.split("[ANSWER]")[1].split("[/ANSWER]")[0].strip()
        else:
            raw = raw.split("[ANSWER]")[1].strip()
    if raw.startswith("```"):
        raw = raw.strip("`").replace("json\n", "").replace("JSON\n", "").strip()
    if "is :" in raw:
        raw = raw.split("is :")[1].strip()
    try:
        output: Any = json.loads(raw)
    except Exception:   # noqa: BLE001 - run.py keeps the raw string, which then scores 0
        output = raw
    if isinstance(output, dict):
        output = output.get("mechanism", output)
    if not isinstance(output, list):
        return 0.0
    try:
        pred = [(s["subtype"], s["intermediate_smiles"]) for s in output]
        gold = [(s["subtype"], s["intermediate_smiles"], s["step_weight"]) for s in gold_mechanism]
        return round(_released_omes_partial(gold, pred), 2)
    except Exception:   # noqa: BLE001 - run.py records 0 on any evaluation error
        return 0.0


SMILES = ["CO.[Br-]", "CC(C)(C)[OH2+]", "C[C+](C)C", "C=C(C)C", "CC(C)(C)O", "CCO", "CC[O-]", "not-a-smiles",
          "", "c1ccccc1O", "CCCCCCCO", "CCCCCCCCO"]
SUBTYPES = ["nucleophilic_substitution", "acid_base_proton_transfer", "heterolytic_cleavage", "proton_elimination",
            "nucleophilic_addition"]
WRAPPERS = [
    "{b}", "[ANSWER]{b}[/ANSWER]", "Reasoning first.\n[ANSWER]\n{b}\n[/ANSWER]", "[ANSWER]{b}",
    "[ANSWER]```json\n{b}\n```[/ANSWER]", "```json\n{b}\n```", "```JSON\n{b}```", "``` json {b}```",
    "The mechanism is : {b}", "[ANSWER]The answer is : {b} and that is : all[/ANSWER]",
    "[ANSWER] draft [/ANSWER] final [ANSWER]{b}[/ANSWER]", "[/ANSWER] stray, then [ANSWER]{b}",
    "I will write [ANSWER] tags.\n[ANSWER]{b}[/ANSWER]", "[ANSWER]{b}[ANSWER]again[/ANSWER]",
    "Here it is: {b}", "  \n[ANSWER]  {b}  [/ANSWER]\n", "[answer]{b}[/answer]",
]


def _random_steps(rng: random.Random, gold: list[dict]) -> Any:
    steps: list[Any] = []
    for _ in range(rng.randint(0, 5)):
        if gold and rng.random() < 0.5:
            g = rng.choice(gold)
            step: Any = {"step": len(steps) + 1, "type": g["type"], "subtype": g["subtype"],
                         "intermediate_smiles": g["intermediate_smiles"]}
        else:
            step = {"step": len(steps) + 1, "type": "x", "subtype": rng.choice(SUBTYPES),
                    "intermediate_smiles": rng.choice(SMILES)}
        flaw = rng.random()
        if flaw < 0.04:
            step.pop("subtype")
        elif flaw < 0.08:
            step["intermediate_smiles"] = rng.choice([None, 3, ["CCO"]])
        elif flaw < 0.12:
            step["subtype"] = rng.choice([None, 1, ["nucleophilic_substitution"]])
        elif flaw < 0.15:
            step = rng.choice(["CCO", 3, [step["subtype"], step["intermediate_smiles"]]])
        elif flaw < 0.18:
            step["intermediate_smiles"] = "json\n" + step["intermediate_smiles"]     # run.py's replace hits it
        steps.append(step)
    shape = rng.random()
    if shape < 0.15:
        return {"mechanism": steps}
    if shape < 0.2:
        return {"steps": steps}
    if shape < 0.23:
        return rng.choice(["no mechanism", 42, None])
    return steps


def _body(rng: random.Random, data: Any) -> str:
    text = json.dumps(data, indent=rng.choice([None, 2]))
    return text[:-1] if rng.random() < 0.05 else text          # sometimes truncated JSON


def test_scores_match_the_released_evaluator_on_random_replies() -> None:
    task = get_task("omebench", source="fixture")
    examples = task.load(Split.TEST)
    rng = random.Random(20251009)
    nonzero = 0
    for trial in range(600):
        example = rng.choice(examples)
        gold = json.loads(example.answer)
        reply = rng.choice(WRAPPERS).format(b=_body(rng, _random_steps(rng, gold)))
        if trial % 7 == 0:                                          # a second, different answer block
            reply += "\n[ANSWER]" + _body(rng, _random_steps(rng, gold)) + "[/ANSWER]"
        expected = _released_score(reply, gold)
        got = task.score(task.extract(reply), example)
        assert got == pytest.approx(expected, abs=1e-9), (reply, got, expected)
        nonzero += expected > 0
    assert 100 < nonzero < 550                                      # both outcomes well represented


def test_gold_replies_and_aggregate_match_the_released_evaluator() -> None:
    task = get_task("omebench", source="fixture")
    examples = task.load(Split.TEST)
    rng = random.Random(3)
    replies = [task.target(e) if i % 2 else f"[ANSWER]{json.dumps(_random_steps(rng, json.loads(e.answer)))}[/ANSWER]"
               for i, e in enumerate(examples)]
    expected = [_released_score(r, json.loads(e.answer)) for r, e in zip(replies, examples, strict=True)]
    assert expected[1::2] == [1.0] * len(expected[1::2])
    got = task.aggregate([task.extract(r) for r in replies], examples)
    assert round(got, 3) == round(sum(expected) / len(expected), 3)              # run.py's avg_S_partial


def test_the_first_block_rule_differs_from_the_lenient_reader() -> None:
    task = get_task("omebench", source="fixture")
    lenient = get_task("omebench", source="fixture", extraction="lenient")
    example = task.load(Split.TEST)[0]
    reply = "[ANSWER] I am not sure yet [/ANSWER]\n" + task.target(example)
    assert _released_score(reply, json.loads(example.answer)) == 0.0
    assert task.score(task.extract(reply), example) == 0.0
    assert lenient.score(lenient.extract(reply), example) == 1.0


def test_score_rejects_what_the_released_evaluator_cannot_score() -> None:
    task = get_task("omebench", source="fixture")
    example = Example(id="g", question="q", answer=json.dumps(
        [{"subtype": "nucleophilic_substitution", "intermediate_smiles": "CO.[Br-]", "step_weight": 1.0}]))
    good = {"subtype": "nucleophilic_substitution", "intermediate_smiles": "CO.[Br-]"}
    assert task.score(json.dumps([good]), example) == 1.0
    assert task.score(json.dumps([good, {"subtype": "x", "intermediate_smiles": None}]), example) == 0.0
    assert task.score(json.dumps([good, {"subtype": None, "intermediate_smiles": "CCO"}]), example) == 1.0
    assert task.score(json.dumps([good, "CCO"]), example) == 0.0
    assert task.score("[]", example) == 0.0 and task.score("zzqx", example) == 0.0
