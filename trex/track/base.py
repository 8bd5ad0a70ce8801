"""Trackers: where node results go besides the run folder. A tracker failure never stops a search."""
from __future__ import annotations

from typing import Any, Protocol

from trex.tree.records import Node


class Tracker(Protocol):
    def node_started(self, node: Node, group: str) -> None:
        """The node's job was handed to an executor."""
        ...

    def log_steps(self, node_id: str, records: list[dict[str, Any]]) -> None:
        """Training log records (step, loss, ...) of a running node, as they arrive."""
        ...

    def log_node(self, node: Node, group: str) -> None:
        """The node finished (or was promoted to a higher rung)."""
        ...

    def finish(self) -> None: ...


class NoTracker:
    """The do-nothing tracker (tracker=none, tests)."""

    def node_started(self, node: Node, group: str) -> None:
        pass

    def log_steps(self, node_id: str, records: list[dict[str, Any]]) -> None:
        pass

    def log_node(self, node: Node, group: str) -> None:
        pass

    def finish(self) -> None:
        pass


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1}} -> {"train.lr": 1}"""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
