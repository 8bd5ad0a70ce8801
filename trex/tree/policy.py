"""Selection policies and reward normalization: pure functions of the tree and a seed."""
from __future__ import annotations

import math
import random

from trex.tree.records import NodeStatus
from trex.tree.store import Tree


def normalize_reward(score: float | None, lo: float, hi: float,
                     base: float | None = None, reference: float | None = None) -> float:
    """Map a dev score into [0, 1].

    With a reference score (e.g. a strong model's), the gain over the base model is
    measured against the reference's gain: (score - base) / (reference - base). Otherwise
    the metric's own range: (score - lo) / (hi - lo). A failed run (None) earns 0.
    """
    if score is None:
        return 0.0
    if reference is not None and base is not None and reference > base:
        value = (score - base) / (reference - base)
    else:
        if hi <= lo:
            raise ValueError(f"metric range must have hi > lo, got lo={lo}, hi={hi}")
        value = (score - lo) / (hi - lo)
    return min(1.0, max(0.0, value))


def expandable(tree: Tree, max_children: int) -> list[str]:
    """Succeeded nodes that may still get children (pending ones count toward the cap)."""
    return [n.id for n in tree
            if n.status is NodeStatus.SUCCEEDED and len(tree.children(n.id)) < max_children]


def uct_value(tree: Tree, node_id: str, c: float) -> float:
    """Mean backed-up reward plus c * sqrt(ln N(parent) / N(node)); the root uses its own N."""
    node = tree[node_id]
    if node.visits == 0:
        return math.inf
    parent_visits = tree[node.parent_id].visits if node.parent_id else node.visits
    return node.mean_value + c * math.sqrt(math.log(max(parent_visits, 1)) / node.visits)


def select_uct(tree: Tree, c: float, max_children: int, seed: int) -> str | None:
    """The expandable node with the highest UCT value; ties broken by the seed."""
    candidates = expandable(tree, max_children)
    if not candidates:
        return None
    rng = random.Random(seed)
    scored = [(uct_value(tree, nid, c), rng.random(), nid) for nid in candidates]
    return max(scored)[2]
