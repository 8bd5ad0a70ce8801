"""The console while a search runs: the live table on a terminal (logs printed through rich
above it), plain lines elsewhere, and the budget footer."""
from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.report_run import make_run
from trex.progress import Budgets, Progress, budget_line, plain_node_line, running_table
from trex.track.live import ProgressBoard, Reporter, eta_s
from trex.tree.store import Tree

BUDGETS = Budgets(max_nodes=8, max_minutes=30, max_device_hours=2.0, max_llm_tokens=50_000)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    tree = make_run(tmp_path)
    tree.mark_running("n0004", time.time() - 90)
    return tree


def training(step: int, total: int, started_ago: float) -> dict:
    return {"phase": "train", "step": step, "total": total, "loss": 0.4321, "phase_started": time.time() - started_ago}


def render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=160, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_running_table_shows_step_loss_elapsed_and_eta(tree: Tree) -> None:
    out = render(running_table(tree, {"n0004": training(30, 120, started_ago=60)}, time.time()))
    row = next(line for line in out.splitlines() if "n0004" in line)
    assert "train" in row and "30/120" in row and "0.4321" in row and "1m30s" in row and "3m00s" in row
    assert not [line for line in out.splitlines() if line.startswith("│ n000") and "n0004" not in line]
    assert eta_s({"phase": "eval dev", "step": 3, "total": 9}, time.time()) is None


def test_the_budget_footer_says_what_is_spent_and_left(tree: Tree) -> None:
    line = budget_line(tree, 12 * 60, BUDGETS)
    assert "nodes 5/8" in line and "time 12.0/30 min (18.0 left)" in line and "device 0.01/2 h" in line
    assert "LLM tokens 0/50,000" in line


def test_on_a_terminal_logs_go_through_rich_above_the_table(tree: Tree) -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True, color_system=None)
    root = logging.getLogger()
    plain = logging.StreamHandler()
    root.addHandler(plain)
    try:
        with Progress(BUDGETS, console=console) as progress:
            assert plain not in root.handlers                  # a bare stream handler would garble the table
            progress.states = {"n0004": training(5, 10, started_ago=5)}
            progress.update(tree)
            logging.getLogger("trex.test").warning("a warning while the table is up")
            progress.update(tree)
        assert plain in root.handlers and not any(type(h).__name__ == "RichHandler" for h in root.handlers)
    finally:
        root.removeHandler(plain)
    text = out.getvalue()
    assert "a warning while the table is up" in text and "5/10" in text and "budgets: nodes 5/8" in text


def test_elsewhere_plain_lines_per_status_change_and_node(tree: Tree, caplog: pytest.LogCaptureFixture) -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with caplog.at_level(logging.INFO, logger="trex.progress"), Progress(BUDGETS, console=console) as progress:
        progress.states = {"n0004": training(5, 10, started_ago=5)}
        progress.update(tree)
        progress.update(tree)                                  # nothing changed: nothing logged again
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[0].startswith("nodes 4/8 done · 1 running")
    assert lines[1] == plain_node_line("n0004", progress.states["n0004"], time.time())
    assert lines[1].startswith("n0004: train step 5/10, loss 0.4321, ETA 0m0")


def test_the_board_keeps_each_nodes_state_and_hands_out_new_records_once() -> None:
    board = ProgressBoard()
    board.update("n1", {"phase": "train"})
    board.update("n1", {"step": 3, "total": 9})
    board.record("n1", {"step": 3, "loss": 0.5})
    states, records = board.drain()
    assert states["n1"]["phase"] == "train" and states["n1"]["step"] == 3 and "phase_started" in states["n1"]
    assert records == {"n1": [{"step": 3, "loss": 0.5}]} and board.drain()[1] == {}
    Reporter(None, "n1").logged({"step": 1, "loss": 1.0})     # no board: a no-op, never an error
