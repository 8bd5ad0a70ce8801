"""oMeS, oMeBench's mechanism score: a weighted Needleman-Wunsch alignment of predicted and
gold mechanism steps (after `scripts/utils_eval.py` in github.com/skylarkie/oMeBench).

Steps are (subtype, intermediate SMILES[, weight]). Aligning gold step i with predicted step j
gains nothing unless their subtypes are equal; then S_total gains w_i when the canonical SMILES
agree, and S_partial gains w_i * sim, with sim the Tanimoto similarity of Morgan fingerprints
(radius 2, 2048 bits), set to 0 below tau = 0.6 (both SMILES must parse). Skips and mismatched
subtypes gain nothing. The DP keeps, per cell, the candidate with the larger (S_total,
S_partial), in that order; the released code's extra tie-breakers (step rank, a 1e-6 skip
penalty) only choose between equal-valued paths, so the scores are the same.

RDKit is imported lazily; a missing RDKit raises an ImportError naming `pip install -e .[chem]`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

TAU = 0.60
FP_RADIUS = 2
FP_BITS = 2048

GoldStep = tuple[str, str, float]
PredStep = tuple[str | None, str]     # a None subtype (not a string in the reply) matches no gold step


def _rdkit() -> tuple[Any, Any]:
    try:
        from rdkit import Chem, DataStructs, RDLogger
    except ImportError as err:
        raise ImportError("oMeBench scores intermediates with RDKit; install it with `pip install -e .[chem]`") from err
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]  # missing from rdkit's stubs
    return Chem, DataStructs


@lru_cache(maxsize=8192)
def _mol(smiles: str) -> Any:
    return _rdkit()[0].MolFromSmiles(smiles) if smiles else None


@lru_cache(maxsize=1)
def _generator() -> Any:
    _rdkit()
    from rdkit.Chem.rdFingerprintGenerator import GetMorganGenerator

    return GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_BITS)


def canonical(smiles: str) -> str:
    """Canonical SMILES, or '' when RDKit cannot parse it."""
    m = _mol(smiles)
    return "" if m is None else _rdkit()[0].MolToSmiles(m, canonical=True)


def similarity(a: str, b: str) -> float:
    """Tanimoto similarity of Morgan fingerprints (0.0 when either SMILES is invalid)."""
    ma, mb = _mol(a), _mol(b)
    if ma is None or mb is None:
        return 0.0
    gen = _generator()
    return _rdkit()[1].TanimotoSimilarity(gen.GetFingerprint(ma), gen.GetFingerprint(mb))


def ome_scores(gold: list[GoldStep], pred: list[PredStep], tau: float = TAU) -> tuple[float, float]:
    """(S_total, S_partial) of a predicted mechanism against the gold one (unrounded)."""
    gold_can = [canonical(s) for _, s, _ in gold]
    pred_can = [canonical(s) for _, s in pred]
    n, m = len(gold), len(pred)
    best = [[(0.0, 0.0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        g_type, g_smi, weight = gold[i - 1]
        for j in range(1, m + 1):
            p_type, p_smi = pred[j - 1]
            gain_tot = gain_par = 0.0
            if g_type == p_type:
                if gold_can[i - 1] and gold_can[i - 1] == pred_can[j - 1]:
                    gain_tot = weight
                if gold_can[i - 1] and pred_can[j - 1]:
                    sim = similarity(g_smi, p_smi)
                    gain_par = weight * (sim if sim >= tau else 0.0)
            diag_tot, diag_par = best[i - 1][j - 1]
            best[i][j] = max(best[i - 1][j], best[i][j - 1], (diag_tot + gain_tot, diag_par + gain_par))
    return best[n][m]
