"""The search tree: the driver is its only writer. Persisted atomically as tree.json."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from pydantic import BaseModel

from trex.tree.records import Diagnosis, ExperimentSpec, LLMUsage, Node, NodeStatus, RunResult
from trex.tree.stats import NodeStats


class TreeState(BaseModel):
    """What tree.json holds: every node, in creation order, plus the run's totals."""

    task: str
    nodes: list[Node]
    llm_usage: LLMUsage = LLMUsage()
    spent_s: float = 0.0        # wall seconds of earlier sessions of this run (resume)
    sessions: int = 1


class Tree:
    def __init__(self, task: str) -> None:
        self.task = task
        self._nodes: dict[str, Node] = {}
        self._children: dict[str, list[str]] = {}
        # Indices kept up to date on every change, so a policy step does not scan the tree.
        self._unfinished_below: dict[str, int] = {}
        self._gains: list[tuple[float, str]] = []  # (score - parent score, id), finish order
        self._failed: list[str] = []               # finish order
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self.stats = NodeStats()
        self.llm_usage = LLMUsage()
        self.spent_s = 0.0
        self.sessions = 1

    # -- reading -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __getitem__(self, node_id: str) -> Node:
        return self._nodes[node_id]

    @property
    def root(self) -> Node:
        return next(iter(self._nodes.values()))

    def children(self, node_id: str | None) -> list[Node]:
        return [self._nodes[c] for c in self._children.get(node_id or "", [])]

    def n_children(self, node_id: str) -> int:
        return len(self._children.get(node_id, ()))

    def unfinished_below(self, node_id: str) -> int:
        """Descendants of `node_id` that are queued or running."""
        return self._unfinished_below.get(node_id, 0)

    def gains(self) -> list[tuple[float, str]]:
        """(dev score - parent's dev score, node id) of every succeeded non-root node."""
        return self._gains

    def failed_ids(self) -> list[str]:
        """Failed nodes, in the order they finished."""
        return self._failed

    def lineage(self, node_id: str) -> list[Node]:
        """Nodes from the root down to `node_id`, inclusive."""
        path: list[Node] = []
        current: str | None = node_id
        while current is not None:
            node = self._nodes[current]
            path.append(node)
            current = node.parent_id
        return path[::-1]

    def count(self, status: NodeStatus) -> int:
        return sum(n.status is status for n in self._nodes.values())

    def best(self) -> Node | None:
        """The succeeded node with the highest dev score (earliest on ties)."""
        done = [n for n in self._nodes.values() if n.status is NodeStatus.SUCCEEDED and n.score is not None]
        return max(done, key=lambda n: cast(float, n.score)) if done else None

    # -- writing -----------------------------------------------------------------
    def add(self, spec: ExperimentSpec, parent_id: str | None, now: float,
            usage: LLMUsage = LLMUsage(), origin: str = "") -> Node:
        if parent_id is None and self._nodes:
            raise ValueError("the tree already has a root")
        depth = 0 if parent_id is None else self._nodes[parent_id].depth + 1
        node = Node(id=f"n{len(self._nodes):04d}", parent_id=parent_id, depth=depth, spec=spec,
                    created_at=now, proposal_usage=usage, origin=origin)
        return self._put(node)

    def mark_running(self, node_id: str, now: float) -> Node:
        return self._put(self._nodes[node_id].model_copy(update={"status": NodeStatus.RUNNING, "started_at": now}))

    def requeue(self, node_id: str) -> Node:
        """Put an unfinished node back in the queue (after a crash or a lost executor)."""
        node = self._nodes[node_id]
        if node.done:
            raise ValueError(f"{node_id} is already {node.status.value}")
        return self._put(node.model_copy(update={"status": NodeStatus.PENDING, "started_at": None}))

    def record(self, node_id: str, result: RunResult, reward: float, now: float) -> Node:
        """Store a finished experiment and back its reward up to the root."""
        if self._nodes[node_id].done:
            raise ValueError(f"{node_id} already has a result")
        node = self._nodes[node_id].model_copy(update={
            "status": result.status, "result": result, "score": result.score,
            "reward": reward, "finished_at": now,
            "rung_scores": (result.score,) if result.proxy and result.score is not None else ()})
        self._put(node)
        self._index_finished(node)
        for ancestor in self.lineage(node_id):
            self._put(ancestor.model_copy(update={"visits": ancestor.visits + 1,
                                                  "value_sum": ancestor.value_sum + reward,
                                                  "value_max": max(ancestor.value_max, reward)}))
        return self._nodes[node_id]

    def promote(self, node_id: str, result: RunResult, reward: float, now: float) -> Node:
        """Replace a succeeded node's result by a higher rung's (search.fidelity=asha): the node's
        reward becomes the new one and its ancestors' values follow; visits are unchanged."""
        old = self._nodes[node_id]
        if old.status is not NodeStatus.SUCCEEDED or old.reward is None:
            raise ValueError(f"{node_id} has no succeeded result to promote")
        node = old.model_copy(update={"result": result, "score": result.score, "reward": reward, "finished_at": now,
                                      "rung_scores": (*old.rung_scores, result.score)})
        self._put(node)
        self._gains = [(g, i) for g, i in self._gains if i != node_id and self._nodes[i].parent_id != node_id]
        for n in (node, *self.children(node_id)):
            if n.status is NodeStatus.SUCCEEDED:
                self._index_finished(n, was_unfinished=False)
        for ancestor in reversed(self.lineage(node_id)):
            best = max([c.value_max for c in self.children(ancestor.id) if c.visits] +
                       [ancestor.reward if ancestor.reward is not None else 0.0])
            self._put(ancestor.model_copy(update={"value_sum": ancestor.value_sum + reward - old.reward,
                                                  "value_max": best}))
        return self._nodes[node_id]

    def set_diagnosis(self, node_id: str, diagnosis: Diagnosis) -> Node:
        return self._put(self._nodes[node_id].model_copy(update={"diagnosis": diagnosis}))

    def add_usage(self, usage: LLMUsage) -> None:
        self.llm_usage = self.llm_usage + usage

    def _put(self, node: Node) -> Node:
        new = node.id not in self._nodes
        self._nodes[node.id] = node
        if new:
            self._row[node.id] = self.stats.append(self._row[node.parent_id] if node.parent_id else -1)
            self._ids.append(node.id)
            if node.parent_id is not None:
                self._children.setdefault(node.parent_id, []).append(node.id)
            if not node.done:
                self._shift_unfinished(node, +1)
        self.stats.sync(self._row[node.id], node)
        return node

    def _shift_unfinished(self, node: Node, delta: int) -> None:
        parent = node.parent_id
        while parent is not None:
            self._unfinished_below[parent] = self._unfinished_below.get(parent, 0) + delta
            self.stats.unfinished[self._row[parent]] += delta
            parent = self._nodes[parent].parent_id

    def id_of_row(self, row: int) -> str:
        return self._ids[row]

    def _index_finished(self, node: Node, was_unfinished: bool = True) -> None:
        if was_unfinished:
            self._shift_unfinished(node, -1)
        if node.status is NodeStatus.SUCCEEDED:
            parent = self._nodes[node.parent_id] if node.parent_id else None
            if parent is not None and parent.score is not None and node.score is not None:
                self._gains.append((node.score - parent.score, node.id))
        elif node.status is NodeStatus.FAILED:
            self._failed.append(node.id)

    # -- persistence -------------------------------------------------------------
    def state(self) -> TreeState:
        return TreeState(task=self.task, nodes=list(self._nodes.values()), llm_usage=self.llm_usage,
                         spent_s=self.spent_s, sessions=self.sessions)

    def save(self, path: Path) -> None:
        """Write tree.json atomically: temp file, fsync, rename, fsync the folder."""
        atomic_write(path, self.state().model_dump_json(indent=1))

    @classmethod
    def load(cls, path: Path) -> Tree:
        state = TreeState.model_validate_json(Path(path).read_text())
        tree = cls(state.task)
        for node in state.nodes:
            tree._put(node)
        for node in sorted((n for n in state.nodes if n.done), key=lambda n: n.finished_at or 0.0):
            tree._index_finished(node, was_unfinished=False)
        tree.llm_usage, tree.spent_s, tree.sessions = state.llm_usage, state.spent_s, state.sessions
        return tree


def atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json(path: Path, obj: object) -> None:
    atomic_write(path, json.dumps(obj, indent=1, default=str))
