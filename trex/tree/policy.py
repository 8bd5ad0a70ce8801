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
from typing import Any

import numpy as np

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
    """The policy's part of SearchConfig (same defaults; chosen by bench/search/sweep.py)."""

    exploration: float = 0.05    # UCT constant c; rewards lie in [0, 1]
    backup: Backup = Backup.MAX
    virtual_loss: float = 1.0    # zero-reward visits counted per child in flight
    max_children: int = 6        # children a node may have, in flight included

    @classmethod
    def of(cls, search: Any) -> PolicySettings:
        """From a SearchConfig (or anything with its four fields)."""
        return cls(exploration=search.exploration, backup=Backup(search.backup), virtual_loss=search.virtual_loss,
                   max_children=search.max_children)


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


def expandable_mask(tree: Tree, max_children: int) -> np.ndarray:
    st = tree.stats
    return st.view("succeeded") & (st.view("n_children") < max_children)


def expandable(tree: Tree, max_children: int) -> list[str]:
    """Succeeded nodes that may still get children (queued and running ones count toward the cap)."""
    return [tree.id_of_row(int(i)) for i in np.flatnonzero(expandable_mask(tree, max_children))]


def uct_value(tree: Tree, node_id: str, s: PolicySettings) -> float:
    """UCT of a node; each unfinished descendant counts as `virtual_loss` zero-reward visits."""
    node = tree[node_id]
    visits = node.visits + s.virtual_loss * tree.unfinished_below(node_id)
    if visits <= 0:
        return math.inf
    exploit = node.value_max if s.backup is Backup.MAX else node.value_sum / visits
    parent = tree[node.parent_id] if node.parent_id else node
    parent_visits = parent.visits + s.virtual_loss * tree.unfinished_below(parent.id)
    return exploit + s.exploration * math.sqrt(math.log(max(parent_visits, 1.0)) / visits)


def uct_values(tree: Tree, s: PolicySettings) -> np.ndarray:
    """uct_value of every node at once (rows in creation order); +inf where a node has no visit."""
    st = tree.stats
    visits = st.view("visits") + s.virtual_loss * st.view("unfinished")
    parent = st.view("parent")
    own = np.arange(st.n)
    parent_visits = visits[np.where(parent >= 0, parent, own)]
    with np.errstate(divide="ignore", invalid="ignore"):
        exploit = st.view("value_max") if s.backup is Backup.MAX else st.view("value_sum") / visits
        value = exploit + s.exploration * np.sqrt(np.log(np.maximum(parent_visits, 1.0)) / visits)
    return np.where(visits > 0, value, np.inf)


def _uct(tree: Tree, candidates: list[str], s: PolicySettings, rng: random.Random) -> str:
    mask = expandable_mask(tree, s.max_children)
    values = np.where(mask, uct_values(tree, s), -np.inf)
    top = np.flatnonzero(values == values.max())
    return tree.id_of_row(int(top[0] if len(top) == 1 else rng.choice(list(top))))


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
    name = PolicyName(policy)
    if name is PolicyName.UCT:    # vectorized over all nodes: no candidate list needed
        return _uct(tree, [], settings, random.Random(seed)) if expandable_mask(tree, settings.max_children).any() \
            else None
    candidates = expandable(tree, settings.max_children)
    if not candidates:
        return None
    return POLICIES[name](tree, candidates, settings, random.Random(seed))


def select_for_expansion(policy: PolicyName | str, tree: Tree, settings: PolicySettings, seed: int) -> str | None:
    """What the driver expands next. At the start, the root's first children are planned while
    the base model is still being evaluated (its settings are the template): slots never wait
    for the baseline. After that, the policy decides."""
    if len(tree) and not tree.root.done and tree.n_children(tree.root.id) == 0:
        return tree.root.id
    return select(policy, tree, settings, seed)


def select_uct(tree: Tree, c: float, max_children: int, seed: int) -> str | None:
    """UCT with mean backup and no virtual loss (the textbook rule)."""
    return select(PolicyName.UCT, tree, PolicySettings(exploration=c, backup=Backup.MEAN, virtual_loss=0.0,
                                                       max_children=max_children), seed)
