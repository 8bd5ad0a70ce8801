"""How alike two experiments are, over what they do (data + training), in [0, 1].

Each field counts equally: categorical fields and lists score 1 when equal (lists: Jaccard of
their items), numbers by their ratio, where a factor of two or more counts as fully different.
One changed categorical field of the 16 gives 0.9375, one learning-rate grid step about 0.96 and
epochs 6 -> 7 about 0.986; the default threshold of 0.99 therefore rejects only near-identical
specs (e.g. lora_dropout 0.05 -> 0.052, max_samples 128 -> 132).
"""
from __future__ import annotations

import json
import math
from typing import Any

from trex.tree.records import ExperimentSpec, InitFrom


def _fields(spec: ExperimentSpec) -> dict[str, Any]:
    d, t = spec.data.model_dump(mode="json"), spec.train.model_dump(mode="json")
    return {**{f"data.{k}": v for k, v in d.items()}, **{f"train.{k}": v for k, v in t.items()}}


def _items(value: list[Any]) -> set[str]:
    return {json.dumps(v, sort_keys=True) for v in value}


def field_similarity(a: Any, b: Any) -> float:
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return float(a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b:
            return 1.0
        if a <= 0 or b <= 0:
            return 0.0
        return max(0.0, 1.0 - abs(math.log(a / b)) / math.log(2.0))
    if isinstance(a, list) and isinstance(b, list):
        sa, sb = _items(a), _items(b)
        return 1.0 if sa == sb else len(sa & sb) / len(sa | sb)
    return float(a == b)


def spec_similarity(a: ExperimentSpec, b: ExperimentSpec, parent_a: str | None = None,
                    parent_b: str | None = None) -> float:
    """Mean field similarity; 0 when one warm-starts and they continue different parents."""
    warm = a.train.init_from is InitFrom.PARENT or b.train.init_from is InitFrom.PARENT
    if warm and parent_a != parent_b:
        return 0.0
    fa, fb = _fields(a), _fields(b)
    keys = sorted(set(fa) | set(fb))
    return sum(field_similarity(fa.get(k), fb.get(k)) for k in keys) / len(keys)


def most_similar(spec: ExperimentSpec, parent_id: str | None,
                 existing: list[tuple[str, ExperimentSpec, str | None]]) -> tuple[float, str | None]:
    """(similarity, node id) of the closest of `existing` (id, spec, parent id) triples."""
    best, best_id = 0.0, None
    for node_id, other, other_parent in existing:
        s = spec_similarity(spec, other, parent_id, other_parent)
        if s > best:
            best, best_id = s, node_id
    return best, best_id
