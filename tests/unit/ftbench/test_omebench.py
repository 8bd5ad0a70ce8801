"""omebench: fixture mapping, extraction, oMeS against a transcription of the released DP, aggregate, offline files."""
from __future__ import annotations

import json
import random
import sys

import pytest

pytest.importorskip("rdkit")

from ftbench import SourceUnavailable, Split, get_task
from ftbench.omebench import ome_score
from ftbench.omebench.ome_score import canonical, ome_scores, similarity


@pytest.fixture(scope="module")
def task():
    return get_task("omebench", source="fixture")


def test_gold_rows_map_to_examples(task) -> None:
    test = task.load(Split.TEST)
    assert [e.id for e in test] == [f"gold-{i:04d}" for i in range(6)]
    e = test[1]
    assert e.question == ('Reactants (SMILES): ["CC(C)(C)O"]\nProducts (SMILES): ["C=C(C)C"]\n'
                          "Reaction conditions: H2SO4, heat")
    assert e.kind == "easy" and e.meta == {"reaction_id": "FX-002", "name": "E1 dehydration of tert-butanol"}
    steps = json.loads(e.answer)
    assert [s["subtype"] for s in steps] == ["acid_base_proton_transfer", "heterolytic_cleavage", "proton_elimination"]
    assert [s["step_weight"] for s in steps] == [0.2, 0.4, 0.4] and e.solution == ""


def test_silver_rows_get_uniform_weights_and_rationales(task) -> None:
    train, dev = task.load(Split.TRAIN), task.load(Split.DEV)
    assert len(train) + len(dev) == 12 and not {e.id for e in train} & {e.id for e in dev}
    e1 = next(e for e in train + dev if e.meta["reaction_id"] == "FX-002_1-CC")
    assert [s["step_weight"] for s in json.loads(e1.answer)] == pytest.approx([1 / 3] * 3)
    assert e1.solution.startswith("Step 1 (acid_base_proton_transfer): Protonation")
    assert "[ANSWER]" in task.target(e1, reasoning=True) and task.target(e1, reasoning=True).startswith("Step 1")


STEPS = [{"step": 1, "type": "addition", "subtype": "nucleophilic_addition", "intermediate_smiles": "CC([O-])C"}]


@pytest.mark.parametrize(("completion", "official", "lenient"), [
    (f"Reasoning...\n[ANSWER]\n{json.dumps(STEPS)}\n[/ANSWER]", STEPS, STEPS),
    (f"[ANSWER]```json\n{json.dumps(STEPS)}\n```[/ANSWER]", STEPS, STEPS),
    (f"[ANSWER]{json.dumps(STEPS)}", STEPS, STEPS),                                    # unclosed tag
    (f"The mechanism is : {json.dumps(STEPS)}", STEPS, STEPS),                           # run.py's "is :" rule
    (json.dumps({"mechanism": STEPS}), STEPS, STEPS),                                    # untagged object
    (f"[ANSWER] draft [/ANSWER] then final [ANSWER]{json.dumps(STEPS)}", None, STEPS),   # official: first block
    (f"Put it between [ANSWER] and [/ANSWER]. [ANSWER]{json.dumps(STEPS)}[/ANSWER]", None, STEPS),
    (f"Here it is: {json.dumps({'mechanism': STEPS})}", None, STEPS),                   # prose around JSON
    (f"[ANSWER]```{json.dumps(STEPS)}```[/ANSWER]", STEPS, STEPS),
    ('[ANSWER][{"step": 1, "type": "addition"}][/ANSWER]', None, None),                 # step lacks keys
    ("[ANSWER] not json [/ANSWER]", None, None),
    ("", None, None),
])
def test_extract(task, completion: str, official: list | None, lenient: list | None) -> None:
    for extraction, expected in (("official", official), ("lenient", lenient)):
        got = get_task("omebench", source="fixture", extraction=extraction).extract(completion)
        if expected is None:
            assert got == "", extraction
        else:
            assert json.loads(got) == [{"subtype": s["subtype"], "intermediate_smiles": s["intermediate_smiles"]}
                                       for s in expected], extraction


def test_extraction_option_is_checked_and_versioned(task) -> None:
    assert task.version == "2.0"
    assert get_task("omebench", source="fixture", extraction="lenient").version == "2.0+lenient"
    with pytest.raises(ValueError, match="extraction"):
        get_task("omebench", source="fixture", extraction="last")


def _reference_omes(gold, pred, tau=0.6):
    """Transcription of the released oMeS DP (utils_eval.py), with its rank and penalty tie-breakers."""
    n, m, pen_step = len(gold), len(pred), 1e-6
    rank = {"match": 3, "type_mismatch": 2, "skip": 1}
    tot = [[0.0] * (m + 1) for _ in range(n + 1)]
    par = [[0.0] * (m + 1) for _ in range(n + 1)]
    pen = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        pen[i][0] = pen[i - 1][0] - pen_step
    for j in range(1, m + 1):
        pen[0][j] = pen[0][j - 1] - pen_step
    gc, pc = [canonical(s) for _, s, _ in gold], [canonical(s) for _, s in pred]
    for i in range(1, n + 1):
        gt, gs, w = gold[i - 1]
        for j in range(1, m + 1):
            pt, ps = pred[j - 1]
            if gt == pt:
                mt = w if (gc[i - 1] == pc[j - 1] and gc[i - 1]) else 0.0
                sim = similarity(gs, ps)
                mp = w * (0.0 if sim < tau else sim) if (gc[i - 1] and pc[j - 1]) else 0.0
                pd, rd = 0.0, rank["match"]
            else:
                mt = mp = 0.0
                pd, rd = -pen_step, rank["type_mismatch"]
            cands = [(tot[i - 1][j], par[i - 1][j], pen[i - 1][j] - pen_step, rank["skip"]),
                     (tot[i][j - 1], par[i][j - 1], pen[i][j - 1] - pen_step, rank["skip"]),
                     (tot[i - 1][j - 1] + mt, par[i - 1][j - 1] + mp, pen[i - 1][j - 1] + pd, rd)]
            tot[i][j], par[i][j], pen[i][j], _ = max(cands, key=lambda c: (c[0], c[1], c[3], c[2]))
    return tot[n][m], par[n][m]


def test_ome_scores_match_the_released_dp_on_random_mechanisms() -> None:
    rng = random.Random(7)
    pool = ["CCO", "CC[O-]", "CCO.[Br-]", "CC(C)(C)O", "CC(C)(C)[OH2+]", "C[C+](C)C", "C=C(C)C", "CCCO",
            "c1ccccc1O", "c1ccccc1", "not-a-smiles", "C1CC", "CCCCCCCO", "CCCCCCCCO", "OCCc1ccccc1",
            "OCCCc1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CC(=O)Nc1ccc(OC)cc1"]      # the last six: pairs near tau
    subtypes = ["nucleophilic_addition", "acid_base_proton_transfer", "heterolytic_cleavage"]
    for _ in range(300):
        gold = [(rng.choice(subtypes), rng.choice(pool), rng.random()) for _ in range(rng.randint(0, 6))]
        pred = [(rng.choice(subtypes), rng.choice(pool)) for _ in range(rng.randint(0, 7))]
        assert ome_scores(gold, pred) == pytest.approx(_reference_omes(gold, pred), abs=1e-12)


def test_partial_credit_and_subtype_gate() -> None:
    gold = [("acid_base_proton_transfer", "CC(C)(C)[OH2+]", 0.5), ("heterolytic_cleavage", "C[C+](C)C", 0.5)]
    assert ome_scores(gold, [(s, smi) for s, smi, _ in gold]) == pytest.approx((1.0, 1.0))
    tot, par = ome_scores(gold, [("acid_base_proton_transfer", "CC(C)(C)[OH2+]"), ("proton_elimination", "C[C+](C)C")])
    assert (tot, par) == pytest.approx((0.5, 0.5))                     # wrong subtype earns nothing
    sim = similarity("CC(C)(C)[OH2+]", "CC(C)(C)O")
    tot, par = ome_scores(gold[:1], [("acid_base_proton_transfer", "CC(C)(C)O")])
    assert tot == 0.0 and par == pytest.approx(0.5 * sim if sim >= 0.6 else 0.0)


def test_aggregate_is_the_mean_of_rounded_partial_scores(task) -> None:
    examples = task.load(Split.TEST)[:3]
    perfect = task.extract(task.target(examples[1]))
    first_two = json.dumps(json.loads(perfect)[:2])                    # weights 0.2 + 0.4 of example 1
    predictions = [perfect, first_two, "zzqx"]
    assert task.score(perfect, examples[0]) == 0.0                     # another reaction's mechanism
    assert task.score(first_two, examples[1]) == pytest.approx(0.6)
    assert task.aggregate([task.extract(task.target(examples[0])), first_two, ""], examples) == pytest.approx(1.6 / 3)
    assert task.aggregate(predictions, [examples[1], examples[1], examples[2]]) == pytest.approx((1.0 + 0.6 + 0.0) / 3)


def test_published_files_missing_names_the_source(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FTBENCH_DATA", str(tmp_path))
    with pytest.raises(SourceUnavailable, match="skylarkie/oMeBench"):
        get_task("omebench").load(Split.TEST)


def test_missing_rdkit_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rdkit", None)
    with pytest.raises(ImportError, match=r"pip install -e \.\[chem\]"):
        ome_score._rdkit()
