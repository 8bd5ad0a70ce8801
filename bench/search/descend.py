"""A bench-only reference selector (NOT part of trex): textbook MCTS descent with UCT.

trex's `select("uct")` takes a flat max of UCT over every expandable node, so nodes with
different parents are compared and sqrt(ln N_parent) favours leaves under busy parents.
This selector instead starts at the root and, while the current node is full, steps into
the child with the best UCT among its siblings (only children with an expandable node
below them); it returns the first node that may take another child. It reuses trex's
`uct_value` (same exploration constant, backup and virtual loss), so the backed-up
statistics of inner nodes drive the choice. It exists to show what a change to trex's
selection would buy; it is reported next to, never instead of, trex's own policies.
"""
from __future__ import annotations

import random

from trex.tree.policy import PolicySettings, expandable, uct_value, unfinished_below
from trex.tree.store import Tree


def select_descend(tree: Tree, settings: PolicySettings, seed: int) -> str | None:
    """The node a root-to-leaf UCT descent would expand next, or None if none can be."""
    rng = random.Random(seed)
    can = set(expandable(tree, settings.max_children))
    if not can:
        return None
    open_below: set[str] = set()            # nodes with an expandable node in their subtree
    for node_id in can:
        current: str | None = node_id
        while current is not None and current not in open_below:
            open_below.add(current)
            current = tree[current].parent_id
    pending = unfinished_below(tree)
    node_id = tree.root.id
    while node_id not in can:
        kids = [c.id for c in tree.children(node_id) if c.id in open_below]
        node_id = max((uct_value(tree, k, settings, pending), rng.random(), k) for k in kids)[2]
    return node_id
