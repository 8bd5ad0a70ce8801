"""Live progress of running nodes, carried through Ray (no shared disk needed).

Executors report each job's phase (data, train, eval), training step and logged loss to a
`ProgressBoard` actor owned by the driver; the driver drains it every loop turn for the live
console and for the tracker (a node's W&B run streams its loss while it trains).
"""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)


class ProgressBoard:
    """The body of the board actor: the latest state of each running node, and the training log
    records that arrived since the last drain."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.records: dict[str, list[dict[str, Any]]] = {}

    def update(self, node_id: str, fields: dict[str, Any]) -> None:
        state = self.states.setdefault(node_id, {})
        if fields.get("phase") and fields["phase"] != state.get("phase"):
            state["phase_started"] = time.time()
        state.update(fields, updated=time.time())

    def record(self, node_id: str, record: dict[str, Any]) -> None:
        self.records.setdefault(node_id, []).append(record)

    def drain(self) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """(every node's latest state, the log records new since the last drain)."""
        records, self.records = self.records, {}
        return self.states, records

    def forget(self, node_ids: list[str]) -> None:
        for node_id in node_ids:
            self.states.pop(node_id, None)


class Reporter:
    """The executor's side: fire-and-forget calls to the board (a missing board is a no-op, and
    a failing one never fails the job). Training steps are sent at most once a second."""

    def __init__(self, board: Any, node_id: str) -> None:
        self.board, self.node_id, self._last_step = board, node_id, 0.0

    def _send(self, method: str, *args: Any) -> None:
        if self.board is None:
            return
        try:
            getattr(self.board, method).remote(self.node_id, *args)
        except Exception as err:  # noqa: BLE001 - progress is a view; the job goes on
            log.debug("progress report failed: %s", err)

    def phase(self, phase: str) -> None:
        self._send("update", {"phase": phase})

    def step(self, step: int, total: int) -> None:
        now = time.monotonic()
        if step == total or now - self._last_step >= 1.0:
            self._last_step = now
            self._send("update", {"phase": "train", "step": step, "total": total})

    def logged(self, record: dict[str, Any]) -> None:
        """A training log record (step, loss, learning_rate, ...)."""
        self._send("record", record)
        if "loss" in record:
            self._send("update", {"loss": record["loss"]})


def eta_s(state: dict[str, Any], now: float) -> float | None:
    """Seconds left of the training phase at its pace so far (None outside training or before a step)."""
    step, total, started = state.get("step"), state.get("total"), state.get("phase_started")
    if state.get("phase") != "train" or not step or not total or started is None:
        return None
    return (now - started) / step * max(0, total - step)


def board_actor() -> Any:
    """A board actor for this driver (no CPU: it only holds a few dicts)."""
    import ray

    return ray.remote(num_cpus=0)(ProgressBoard).remote()
