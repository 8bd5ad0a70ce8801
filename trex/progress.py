"""A live status line: nodes done/running/failed, best score so far, elapsed time."""
from __future__ import annotations

import logging
import sys
import time

from rich.console import Console
from rich.live import Live

from trex.tree.records import NodeStatus
from trex.tree.store import Tree

log = logging.getLogger("trex.progress")


def status_line(tree: Tree, elapsed_s: float, max_nodes: int, promoting: int = 0) -> str:
    best = tree.best()
    best_text = (f"{best.score:.3f}{'*' if best.proxy else ''} ({best.id})"
                 if best and best.score is not None else "-")
    return (f"nodes {tree.count(NodeStatus.SUCCEEDED) + tree.count(NodeStatus.FAILED)}/{max_nodes} done · "
            f"{tree.count(NodeStatus.RUNNING)} running · {f'{promoting} promoting · ' if promoting else ''}"
            f"{tree.count(NodeStatus.PENDING)} queued · "
            f"{tree.count(NodeStatus.FAILED)} failed · best dev {best_text} · "
            f"{int(elapsed_s // 60)}m{int(elapsed_s % 60):02d}s")


class Progress:
    """On a terminal: a live line. Elsewhere (CI, files): a log line whenever it changes."""

    def __init__(self, max_nodes: int, already_s: float = 0.0) -> None:
        self.max_nodes = max_nodes
        self.started = time.monotonic() - already_s
        self._last = ""
        self._live = Live(console=Console(stderr=True), transient=False, refresh_per_second=2) \
            if sys.stderr.isatty() else None

    def __enter__(self) -> Progress:
        if self._live:
            self._live.start()
        return self

    def update(self, tree: Tree, promoting: int = 0) -> None:
        line = status_line(tree, time.monotonic() - self.started, self.max_nodes, promoting)
        if self._live:
            self._live.update(line)
        elif line.split(" · ")[:-1] != self._last.split(" · ")[:-1]:
            log.info(line)
        self._last = line

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._live.stop()
