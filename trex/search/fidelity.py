"""Multi-fidelity promotion (search.fidelity=asha): asynchronous successive halving over the tree.

A new node first trains on the first `min_fidelity` share of its spec's training (the epochs'
shuffled example stream, cut short) and is scored on a share of the dev split: a proxy. A node
whose score at rung r is in the top 1/eta of every node that reached rung r is promoted: its
training *continues* from its own adapter over the next share of the same stream, and it is
scored again (on the whole dev split at the top rung). Nothing is retrained from scratch. The
node's reward is that of the highest rung it reached. Pure: no clock, no I/O.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from trex.config import SearchConfig
from trex.tree.records import NodeStatus
from trex.tree.store import Tree


@dataclass(frozen=True)
class Rungs:
    eta: int = 3                        # keep the top 1/eta of each rung
    min_fidelity: float = 1 / 3         # share of a spec's training at the lowest rung
    proxy_dev_fraction: float = 0.5     # share of the dev split scored below the top rung

    @classmethod
    def of(cls, config: SearchConfig) -> Rungs | None:
        """The rungs of search.fidelity=asha; None for full fidelity."""
        if config.fidelity == "full":
            return None
        if config.fidelity != "asha":
            raise ValueError(f"search.fidelity={config.fidelity!r} is not one of full, asha")
        return cls(config.eta, config.min_fidelity, config.proxy_dev_fraction)

    def __post_init__(self) -> None:
        if self.eta < 2:
            raise ValueError(f"search.eta={self.eta} must be an integer >= 2")
        if not 0 < self.min_fidelity < 1:
            raise ValueError(f"search.min_fidelity={self.min_fidelity} must lie in (0, 1)")
        if not 0 < self.proxy_dev_fraction <= 1:
            raise ValueError(f"search.proxy_dev_fraction={self.proxy_dev_fraction} must lie in (0, 1]")

    @cached_property
    def fractions(self) -> tuple[float, ...]:
        """Share of the spec's training reached at each rung: min_fidelity * eta**r, the last 1."""
        out, f = [], self.min_fidelity
        while f < 1 - 1e-9:
            out.append(round(f, 6))
            f *= self.eta
        return (*out, 1.0)

    @property
    def top(self) -> int:
        return len(self.fractions) - 1

    def dev_fraction(self, rung: int) -> float:
        return 1.0 if rung >= self.top else self.proxy_dev_fraction

    def segment(self, rung: int) -> tuple[float, float]:
        """The share of the training stream the job of `rung` runs (continuing the rung below)."""
        fr = self.fractions
        return (0.0 if rung == 0 else fr[rung - 1], fr[rung])


def promotable(tree: Tree, rungs: Rungs, busy: set[str], failed: set[str]) -> list[tuple[str, int]]:
    """(node id, next rung) of every node ASHA would promote now, best first, higher rungs first.

    A node at rung r (its highest) is promoted when its rung-r score is among the top
    floor(n_r / eta) of the n_r nodes that reached rung r. `busy`: nodes being promoted;
    `failed`: nodes whose promotion failed (not tried again)."""
    reached: dict[int, list[tuple[float, str]]] = {}
    at: dict[str, int] = {}
    for node in tree:
        if node.status is not NodeStatus.SUCCEEDED or not node.rung_scores:
            continue
        at[node.id] = len(node.rung_scores) - 1
        for r, score in enumerate(node.rung_scores):
            reached.setdefault(r, []).append((score, node.id))
    out: list[tuple[str, int]] = []
    for r in sorted(reached, reverse=True):
        if r >= rungs.top:
            continue
        ranked = sorted(reached[r], key=lambda x: (-x[0], x[1]))
        for _, node_id in ranked[:math.floor(len(ranked) / rungs.eta)]:
            if at[node_id] == r and node_id not in busy and node_id not in failed:
                out.append((node_id, r + 1))
    return out


def segment_rows(n: int, epochs: int, segment: tuple[float, float], seed: int) -> list[int]:
    """Row indices of the share `segment` of a spec's training stream: `epochs` passes over `n`
    examples, each pass in its own seeded order. Every rung of a node cuts the same stream, so a
    promotion continues exactly where the rung below stopped."""
    stream: list[int] = []
    for epoch in range(epochs):
        order = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        stream += order
    start, end = (round(share * len(stream)) for share in segment)
    return stream[start:end]


def dev_subset(kinds: Sequence[str], fraction: float) -> list[int]:
    """Indices of the dev examples a proxy is scored on: `fraction` of each kind of problem (a
    fixed seeded draw per kind), so the subset keeps the split's mix whatever its order."""
    if fraction >= 1.0:
        return list(range(len(kinds)))
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        groups.setdefault(kind, []).append(i)
    out: list[int] = []
    for kind, rows in groups.items():
        random.Random(f"dev-subset:{kind}").shuffle(rows)
        out += rows[:max(1, math.ceil(len(rows) * fraction))]
    return sorted(out)
