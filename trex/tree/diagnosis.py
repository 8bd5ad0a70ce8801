"""Diagnosis of a finished node from its dev predictions: pure functions, no LLM, no IO.

A prediction row is what the executor writes to predictions.jsonl: id, kind, question, gold,
completion, prediction, score. An example counts as a failure when its score is below 1.
"""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from trex.tree.records import Comparison, Diagnosis, FailureSample, FailureType, KindStat

Row = Mapping[str, Any]
MAX_CHARS = 160


def clip(text: object, limit: int = MAX_CHARS) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def failure_type(row: Row) -> FailureType | None:
    score = float(row.get("score") or 0.0)
    if score >= 1.0:
        return None
    if not str(row.get("prediction") or "").strip():
        return FailureType.NO_ANSWER
    return FailureType.WRONG if score <= 0.0 else FailureType.PARTIAL


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _by_kind(rows: Sequence[Row]) -> dict[str, list[float]]:
    kinds: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        kinds[str(r.get("kind") or "")].append(float(r.get("score") or 0.0))
    return kinds


def compare(rows: Sequence[Row], other: Sequence[Row], other_id: str,
            relation: Literal["parent", "sibling"], max_ids: int = 5) -> Comparison:
    """Per-kind score deltas and which shared examples got fixed or broken."""
    mine = {str(r["id"]): r for r in rows}
    theirs = {str(r["id"]): r for r in other}
    shared = [i for i in mine if i in theirs]
    fixed = [i for i in shared if failure_type(theirs[i]) is not None and failure_type(mine[i]) is None]
    broken = [i for i in shared if failure_type(theirs[i]) is None and failure_type(mine[i]) is not None]
    a, b = _by_kind([mine[i] for i in shared]), _by_kind([theirs[i] for i in shared])
    deltas = {k: round(_mean(a[k]) - _mean(b[k]), 4) for k in sorted(a) if k}
    delta = _mean([float(mine[i].get("score") or 0.0) - float(theirs[i].get("score") or 0.0) for i in shared])
    return Comparison(other_id=other_id, relation=relation, score_delta=round(delta, 4), kind_deltas=deltas,
                      fixed=len(fixed), broken=len(broken), fixed_ids=fixed[:max_ids], broken_ids=broken[:max_ids])


def diagnose(rows: Sequence[Row], parent: tuple[str, Sequence[Row]] | None = None,
             siblings: Sequence[tuple[str, Sequence[Row]]] = (), seed: int = 0, n_samples: int = 3) -> Diagnosis:
    """Failures grouped by kind and type, a few seeded samples, and comparisons with relatives."""
    typed = [(r, failure_type(r)) for r in rows]
    failed = [(r, t) for r, t in typed if t is not None]
    by_type: dict[FailureType, int] = defaultdict(int)
    for _, t in failed:
        by_type[t] += 1
    kinds = _by_kind(rows)
    by_kind = [KindStat(kind=k, n=len(v), failures=sum(s < 1.0 for s in v), mean_score=round(_mean(v), 4))
               for k, v in sorted(kinds.items())]
    picked = random.Random(seed).sample(failed, min(n_samples, len(failed)))
    samples = [FailureSample(id=str(r["id"]), kind=str(r.get("kind") or ""), failure=t,
                             question=clip(r.get("question", "")), prediction=clip(r.get("prediction", ""), 80),
                             gold=clip(r.get("gold", ""), 80)) for r, t in picked]
    comparisons = [compare(rows, parent[1], parent[0], "parent")] if parent else []
    comparisons += [compare(rows, other, sid, "sibling") for sid, other in siblings]
    return Diagnosis(n=len(rows), failures=len(failed), by_kind=by_kind, by_type=dict(by_type),
                     samples=samples, comparisons=comparisons)


def diagnosis_lines(node_id: str, d: Diagnosis) -> list[str]:
    """The diagnosis as a few lines of the Researcher's memory context."""
    types = ", ".join(f"{t.value} {n}" for t, n in sorted(d.by_type.items())) or "none"
    lines = [f"Diagnosis of {node_id}: {d.failures}/{d.n} dev examples failed ({types})."]
    weak = [k for k in d.by_kind if k.kind]
    if weak:
        lines.append("  by kind: " + ", ".join(f"{k.kind} {k.mean_score:.2f} ({k.failures}/{k.n} failed)"
                                               for k in weak))
    for c in d.comparisons:
        kinds = ", ".join(f"{k} {v:+.2f}" for k, v in c.kind_deltas.items() if v)
        lines.append(f"  vs {c.relation} {c.other_id}: {c.score_delta:+.3f} per example, fixed {c.fixed}, "
                     f"broke {c.broken}" + (f"; by kind {kinds}" if kinds else ""))
    for s in d.samples:
        lines.append(f"  failed [{s.failure.value}{', ' + s.kind if s.kind else ''}] Q: {s.question} | "
                     f"predicted: {s.prediction or '(nothing)'} | gold: {s.gold}")
    return lines
