"""What the Researcher sees of the tree when it refines one node: a pure function of the tree.

Three parts, each line summarising a node by its spec diff against its parent, its score
and its gain: the trajectory from the root, the node's siblings, and key nodes from the
rest of the tree (largest gains, notable failures). Trimmed to a token budget: key nodes
go first, then the weakest siblings, then the middle of a long trajectory.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from trex.tree.describe import fidelity_note
from trex.tree.diagnosis import diagnosis_lines
from trex.tree.records import ExperimentSpec, Node, NodeStatus
from trex.tree.store import Tree


@dataclass(frozen=True)
class MemoryContext:
    node_id: str
    trajectory: tuple[str, ...]
    siblings: tuple[str, ...]
    key_nodes: tuple[str, ...]
    omitted: int = 0          # lines dropped to fit the budget
    diagnosis: tuple[str, ...] = ()

    def render(self) -> str:
        parts = ["Trajectory from the baseline:", *self.trajectory, *self.diagnosis]
        if self.siblings:
            parts += ["Siblings (other children of the same parent):", *self.siblings]
        if self.key_nodes:
            parts += ["Key results elsewhere in the tree:", *self.key_nodes]
        if self.omitted:
            parts.append(f"({self.omitted} more experiments omitted for length)")
        return "\n".join(parts)


def estimate_tokens(text: str) -> int:
    return len(text) // 4 + 1


def _flat(spec: ExperimentSpec) -> dict[str, Any]:
    d, t = spec.data.model_dump(mode="json"), spec.train.model_dump(mode="json")
    return {**{f"data.{k}": v for k, v in d.items()}, **{f"train.{k}": v for k, v in t.items()}}


def spec_diff(spec: ExperimentSpec, parent: ExperimentSpec | None) -> str:
    """'train.learning_rate 0.0002->0.0005, train.epochs 1->2' (or the full settings for the root)."""
    now = _flat(spec)
    if parent is None:
        return ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in now.items())
    before = _flat(parent)
    changed = [f"{k.split('.', 1)[1]} {before[k]}->{v}" for k, v in now.items() if before.get(k) != v]
    return ", ".join(changed) or "same settings"


def gain(tree: Tree, node: Node) -> float | None:
    if node.score is None or node.parent_id is None:
        return None
    parent = tree[node.parent_id]
    return None if parent.score is None else node.score - parent.score


def summarize(tree: Tree, node: Node) -> str:
    parent = tree[node.parent_id] if node.parent_id else None
    diff = spec_diff(node.spec, parent.spec if parent else None)
    if node.status is NodeStatus.SUCCEEDED and node.score is not None:
        g = gain(tree, node)
        outcome = (f"dev {node.score:.3f}" + (f" ({g:+.3f} vs parent)" if g is not None else "")
                   + fidelity_note(node.result))
    elif node.status is NodeStatus.FAILED:
        reason = (node.result.error or "failed").splitlines()[0][:160] if node.result else "failed"
        outcome = f"FAILED: {reason}"
    else:
        outcome = node.status.value.lower()
    return f"- {node.id} [{node.spec.direction.value}] {diff} -> {outcome}"


def build_memory(tree: Tree, node_id: str, budget_tokens: int = 1500, n_key: int = 6,
                 diagnose: bool = True) -> MemoryContext:
    """The context for refining `node_id`; with `diagnose`, its failure analysis too."""
    lineage = tree.lineage(node_id)
    node = lineage[-1]
    siblings = [n for n in tree.children(node.parent_id) if n.id != node_id] if node.parent_id else []
    seen = {n.id for n in lineage} | {n.id for n in siblings}
    n_gains, n_failures = n_key // 2 + n_key % 2, n_key // 2
    best = heapq.nlargest(n_gains + len(seen), tree.gains())
    top = [tree[nid] for _, nid in best if nid not in seen][:n_gains]
    failures: list[Node] = []
    for nid in reversed(tree.failed_ids()):
        if len(failures) == n_failures:
            break
        if nid not in seen:
            failures.append(tree[nid])
    trajectory = [summarize(tree, n) for n in lineage]
    sibling_lines = [summarize(tree, n) for n in sorted(siblings, key=lambda n: -(n.score or -1.0))]
    key_lines = [summarize(tree, n) for n in top + failures]
    diag = diagnosis_lines(node.id, node.diagnosis) if diagnose and node.diagnosis else []
    return _trim(node_id, trajectory, sibling_lines, key_lines, budget_tokens, diag)


def _trim(node_id: str, trajectory: list[str], siblings: list[str], key: list[str],
          budget: int, diag: list[str] | None = None) -> MemoryContext:
    omitted = 0
    diag = diag or []

    def size() -> int:
        return sum(estimate_tokens(line) for line in trajectory + siblings + key + diag)

    while size() > budget and key:
        key.pop()
        omitted += 1
    while size() > budget and len(diag) > 1:
        diag.pop()
    while size() > budget and siblings:
        siblings.pop()
        omitted += 1
    while size() > budget and len(trajectory) > 3:    # keep the root and the last two steps
        trajectory.pop(1)
        omitted += 1
    return MemoryContext(node_id, tuple(trajectory), tuple(siblings), tuple(key), omitted, tuple(diag))
