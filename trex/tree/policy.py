"""Selection policies and reward normalization: pure functions of the tree and a seed.

Every policy answers one question: which finished node should the Researcher refine next?
It returns None when no node can take another child right now.

- uct (default): mean (or max) backed-up reward + c * sqrt(ln N_parent / N). Children still
  in flight count as `virtual_loss` zero-reward visits each, so parallel selections spread.
- greedy: the best-scoring node (greedy best-first search, the paper's GBFS ablation).
- sequential: the most recently finished node (a chain, the paper's SES ablation).
- random: uniform over expandable nodes.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from trex.tree.records import NodeStatus
from trex.tree.store import Tree


class PolicyName(StrEnum):
    UCT = "uct"
    GREEDY = "greedy"
    SEQUENTIAL = "sequential"
    RANDOM = "random"


class Backup(StrEnum):
    MEAN = "mean"
    MAX = "max"


@dataclass(frozen=True)
class PolicySettings:
    exploration: float = 1.0     # UCT constant c; rewards lie in [0, 1]
    backup: Backup = Backup.MEAN
    virtual_loss: float = 1.0    # zero-reward visits counted per child in flight
    max_children: int = 3        # children a node may have, in flight included


def normalize_reward(score: float | None, lo: float, hi: float, base: float | None = None,
                     reference: float | None = None, failed: float = 0.0) -> float:
    """Map a dev score into [0, 1].

    With a reference score (e.g. a strong model's), the gain over the base model is
    measured against the reference's gain: (score - base) / (reference - base). Otherwise
    the metric's own range: (score - lo) / (hi - lo). A failed run (None) earns `failed`.
    """
    if score is None:
        return failed
    if reference is not None and base is not None and reference > base:
        value = (score - base) / (reference - base)
    else:
        if hi <= lo:
            raise ValueError(f"metric range must have hi > lo, got lo={lo}, hi={hi}")
        value = (score - lo) / (hi - lo)
    return min(1.0, max(0.0, value))


def expandable(tree: Tree, max_children: int) -> list[str]:
    """Succeeded nodes that may still get children (queued and running ones count toward the cap)."""
    return [n.id for n in tree if n.status is NodeStatus.SUCCEEDED and tree.n_children(n.id) < max_children]


def unfinished_below(tree: Tree) -> dict[str, int]:
    """For each node, how many of its descendants are queued or running."""
    counts: dict[str, int] = {}
    for node in tree:
        if not node.done:
            parent = node.parent_id
            while parent is not None:
                counts[parent] = counts.get(parent, 0) + 1
                parent = tree[parent].parent_id
    return counts


def uct_value(tree: Tree, node_id: str, s: PolicySettings, pending: dict[str, int] | None = None) -> float:
    """UCT of a node; each unfinished descendant counts as `virtual_loss` zero-reward visits."""
    pending = unfinished_below(tree) if pending is None else pending
    node = tree[node_id]
    visits = node.visits + s.virtual_loss * pending.get(node_id, 0)
    if visits <= 0:
        return math.inf
    exploit = node.value_max if s.backup is Backup.MAX else node.value_sum / visits
    parent = tree[node.parent_id] if node.parent_id else node
    parent_visits = parent.visits + s.virtual_loss * pending.get(parent.id, 0)
    return exploit + s.exploration * math.sqrt(math.log(max(parent_visits, 1.0)) / visits)


def _uct(tree: Tree, candidates: list[str], s: PolicySettings, rng: random.Random) -> str:
    pending = unfinished_below(tree)
    return max((uct_value(tree, nid, s, pending), rng.random(), nid) for nid in candidates)[2]


def _greedy(tree: Tree, candidates: list[str], s: PolicySettings, rng: random.Random) -> str:
    return max(candidates, key=lambda nid: (tree[nid].score or 0.0, -int(nid[1:])))


def _sequential(tree: Tree, candidates: list[str], s: PolicySettings, rng: random.Random) -> str:
    return max(candidates, key=lambda nid: (tree[nid].finished_at or 0.0, int(nid[1:])))


def _random(tree: Tree, candidates: list[str], s: PolicySettings, rng: random.Random) -> str:
    return rng.choice(candidates)


Selector = Callable[[Tree, list[str], PolicySettings, random.Random], str]
POLICIES: dict[PolicyName, Selector] = {PolicyName.UCT: _uct, PolicyName.GREEDY: _greedy,
                                        PolicyName.SEQUENTIAL: _sequential, PolicyName.RANDOM: _random}


def select(policy: PolicyName | str, tree: Tree, settings: PolicySettings, seed: int) -> str | None:
    """The node `policy` would refine next, or None when no node can take a child now."""
    candidates = expandable(tree, settings.max_children)
    if not candidates:
        return None
    return POLICIES[PolicyName(policy)](tree, candidates, settings, random.Random(seed))


def select_uct(tree: Tree, c: float, max_children: int, seed: int) -> str | None:
    """UCT with mean backup and no virtual loss (the textbook rule)."""
    return select(PolicyName.UCT, tree, PolicySettings(exploration=c, virtual_loss=0.0,
                                                       max_children=max_children), seed)
