"""The console while a search runs.

On a terminal: a live table of running nodes (phase, step/total, current loss, elapsed, ETA)
above a footer with the status line and the budgets spent and left; log records are printed
through rich above the table, so nothing garbles it. Elsewhere (CI, a file): plain log lines,
one when the status changes and one per running node at most every 30 s.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from trex.track.live import eta_s
from trex.tree.budget import device_hours
from trex.tree.records import NodeStatus
from trex.tree.store import Tree

log = logging.getLogger("trex.progress")
PLAIN_EVERY_S = 30.0


@dataclass(frozen=True)
class Budgets:
    max_nodes: int
    max_minutes: float
    max_device_hours: float | None = None
    max_llm_tokens: int | None = None


def status_line(tree: Tree, elapsed_s: float, max_nodes: int, promoting: int = 0) -> str:
    best = tree.best()
    best_text = (f"{best.score:.3f}{'*' if best.proxy else ''} ({best.id})"
                 if best and best.score is not None else "-")
    return (f"nodes {tree.count(NodeStatus.SUCCEEDED) + tree.count(NodeStatus.FAILED)}/{max_nodes} done · "
            f"{tree.count(NodeStatus.RUNNING)} running · {f'{promoting} promoting · ' if promoting else ''}"
            f"{tree.count(NodeStatus.PENDING)} queued · "
            f"{tree.count(NodeStatus.FAILED)} failed · best dev {best_text} · "
            f"{int(elapsed_s // 60)}m{int(elapsed_s % 60):02d}s")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def budget_line(tree: Tree, elapsed_s: float, b: Budgets) -> str:
    """Each budget as spent/limit (and what is left of the wall clock)."""
    tokens = tree.llm_usage.prompt_tokens + tree.llm_usage.completion_tokens
    parts = [f"nodes {len(tree)}/{b.max_nodes}",
             f"time {elapsed_s / 60:.1f}/{b.max_minutes:g} min ({max(0.0, b.max_minutes - elapsed_s / 60):.1f} left)",
             f"device {device_hours(tree):.2f}" + (f"/{b.max_device_hours:g}" if b.max_device_hours else "") + " h",
             f"LLM tokens {tokens:,}" + (f"/{b.max_llm_tokens:,}" if b.max_llm_tokens else "")]
    return "budgets: " + " · ".join(parts)


def running_table(tree: Tree, states: dict[str, dict[str, Any]], now: float) -> Table:
    """One row per running node: what it does, how far it is, its loss and time."""
    table = Table(expand=False, title="running", title_justify="left")
    for column in ("node", "parent", "objective", "phase", "step", "loss", "elapsed", "ETA"):
        table.add_column(column, justify="right" if column in ("step", "loss", "elapsed", "ETA") else "left")
    for node in tree:
        if node.status is not NodeStatus.RUNNING:
            continue
        state = states.get(node.id, {})
        step = f"{state['step']}/{state['total']}" if state.get("total") else "-"
        loss = f"{state['loss']:.4f}" if isinstance(state.get("loss"), (int, float)) else "-"
        elapsed = now - node.started_at if node.started_at else None
        table.add_row(node.id, node.parent_id or "-", node.spec.objective[:48], state.get("phase", "queued"), step,
                      loss, _clock(elapsed), _clock(eta_s(state, now)))
    return table


def plain_node_line(node_id: str, state: dict[str, Any], now: float) -> str:
    step = f" step {state['step']}/{state['total']}" if state.get("total") else ""
    loss = f", loss {state['loss']:.4f}" if isinstance(state.get("loss"), (int, float)) else ""
    eta = eta_s(state, now)
    return f"{node_id}: {state.get('phase', '?')}{step}{loss}" + (f", ETA {_clock(eta)}" if eta is not None else "")


class Progress:
    """The console for one search. `update` is called every loop turn: it drains the board (if
    any), hands new training records to `on_records`, and redraws or logs."""

    def __init__(self, budgets: Budgets, already_s: float = 0.0, board: Any = None,
                 on_records: Callable[[str, list[dict[str, Any]]], None] | None = None,
                 console: Console | None = None) -> None:
        self.budgets, self.board, self.on_records = budgets, board, on_records
        self.started = time.monotonic() - already_s
        self.console = console or Console(stderr=True)
        self.states: dict[str, dict[str, Any]] = {}
        self._last = ""
        self._plain_at: dict[str, tuple[str, float]] = {}        # node -> (phase, time) of its last plain line
        self._handlers: list[logging.Handler] = []
        self._view: Group = Group()
        self._live = Live(console=self.console, get_renderable=lambda: self._view, refresh_per_second=2,
                          transient=False) if self.console.is_terminal else None

    def __enter__(self) -> Progress:
        if self._live:
            root = logging.getLogger()
            self._handlers = [h for h in root.handlers if type(h) is logging.StreamHandler]
            for handler in self._handlers:
                root.removeHandler(handler)
            self._rich = RichHandler(console=self.console, show_path=False, markup=False)
            self._rich.setFormatter(logging.Formatter("%(name)s: %(message)s"))
            root.addHandler(self._rich)
            self._live.start()
        return self

    def _drain(self) -> None:
        if self.board is None:
            return
        import ray

        try:
            self.states, records = ray.get(self.board.drain.remote(), timeout=5)
        except Exception as err:  # noqa: BLE001 - the view must never stop the search
            log.debug("progress board unavailable: %s", err)
            return
        if self.on_records is not None:
            for node_id, rows in records.items():
                self.on_records(node_id, rows)

    def update(self, tree: Tree, promoting: int = 0) -> None:
        self._drain()
        now, elapsed = time.time(), time.monotonic() - self.started
        line = status_line(tree, elapsed, self.budgets.max_nodes, promoting)
        if self._live:
            self._view = Group(running_table(tree, self.states, now),
                               Text(line), Text(budget_line(tree, elapsed, self.budgets), style="dim"))
            self._live.refresh()
        else:
            if line.split(" · ")[:-1] != self._last.split(" · ")[:-1]:
                log.info(line)
            for node in tree:
                state = self.states.get(node.id)
                if node.status is not NodeStatus.RUNNING or not state:
                    continue
                last_phase, last_at = self._plain_at.get(node.id, ("", 0.0))
                if state.get("phase") != last_phase or now - last_at >= PLAIN_EVERY_S:
                    log.info(plain_node_line(node.id, state, now))
                    self._plain_at[node.id] = (state.get("phase", ""), now)
        self._last = line

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._live.stop()
            root = logging.getLogger()
            root.removeHandler(self._rich)
            for handler in self._handlers:
                root.addHandler(handler)
