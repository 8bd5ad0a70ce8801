"""A discrete-event simulation of the driver's loop (trex/driver.py) on a simulated clock.

It uses the real `Tree`, `select` and `normalize_reward`; only the Researcher (the random
proposer) and the executors (the response surface) are simulated. Two ways to expand:

- async (what the driver does): whenever a slot is free and the queue is empty, select a
  node, propose K children, queue them; queued nodes go to free slots at once;
- sync (rounds): expand only when nothing is in flight, as many times as it takes to queue
  one node per slot, then run that batch to the end before the next round.

`propose_s` is the simulated Researcher latency per expansion; the loop is blocked while it
runs, as the real driver is (in-flight experiments go on). The budget is `nodes` nodes,
the root (the base model's evaluation) included, as `SearchConfig.max_nodes` counts them.
"""
from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from bench.search.proposer import baseline_spec, known_keys, propose, spec_key
from bench.search.surface import Adapter, Outcome, score
from trex.tree.policy import PolicySettings, normalize_reward, select_for_expansion
from trex.tree.records import Cost, NodeStatus, RunResult
from trex.tree.store import Tree




class Mode(StrEnum):
    ASYNC = "async"
    SYNC = "sync"


@dataclass(frozen=True)
class SimConfig:
    policy: str = "uct"
    nodes: int = 50
    slots: int = 2
    k: int = 3
    settings: PolicySettings = PolicySettings()
    mode: Mode = Mode.ASYNC
    propose_s: float = 0.0
    max_failed_expansions: int = 5
    seed: int = 0


@dataclass
class SimResult:
    best: list[float]                       # best dev score after 1, 2, ... finished nodes
    intervals: list[tuple[float, float]]    # (start, end) of every experiment
    slots: int
    root_end: float
    last_submit: float
    stop_reason: str
    max_depth: int
    failed: int
    tree: Tree | None = field(default=None, repr=False)

    @property
    def makespan(self) -> float:
        return max((end for _, end in self.intervals), default=0.0)

    def utilization(self, start: float = 0.0, end: float | None = None) -> float:
        """Busy slot-seconds / (slots x window); by default the window is the whole run."""
        end = self.makespan if end is None else end
        if end <= start:
            return 0.0
        busy = sum(max(0.0, min(e, end) - max(s, start)) for s, e in self.intervals)
        return busy / (self.slots * (end - start))

    def mid_utilization(self) -> float:
        """Utilization from the root's result to the last submission (no ramp-up, no drain)."""
        return self.utilization(self.root_end, self.last_submit)

    def idle_shares(self) -> dict[str, float]:
        """Idle slot-seconds before the root's result, mid-run, and after the last submission,
        each as a share of slots x makespan (they add up to 1 - utilization)."""
        total = self.slots * self.makespan
        out = {}
        for name, (a, b) in {"ramp_up": (0.0, self.root_end), "mid_run": (self.root_end, self.last_submit),
                             "drain": (self.last_submit, self.makespan)}.items():
            out[name] = (1 - self.utilization(a, b)) * self.slots * max(b - a, 0.0) / total if total else 0.0
        return out

    def nodes_to(self, target: float) -> int | None:
        """Finished nodes needed for the best score to reach `target` (None: never)."""
        return next((i + 1 for i, b in enumerate(self.best) if b >= target), None)


def node_rng(seed: int, index: int) -> random.Random:
    """The noise of the index-th experiment of a run (common to every method at one seed)."""
    return random.Random(f"trex-bench:{seed}:{index}")


def result_of(outcome: Outcome) -> RunResult:
    ok = outcome.score is not None
    return RunResult(status=NodeStatus.SUCCEEDED if ok else NodeStatus.FAILED, score=outcome.score,
                     error=outcome.error, cost=Cost(total_s=outcome.duration_s, train_s=outcome.duration_s))


class Simulation:
    """One run of the search loop; `run()` returns its trace."""

    def __init__(self, cfg: SimConfig, keep_tree: bool = False) -> None:
        self.cfg, self.keep_tree = cfg, keep_tree
        self.tree = Tree("sim")
        self.clock = 0.0
        self.queue: deque[str] = deque()
        self.events: list[tuple[float, int, str, Outcome, float]] = []   # (end, seq, node, outcome, start)
        self.adapters: dict[str, Adapter | None] = {}
        self.known: set[str] = set()
        self.expansions = 0
        self.empty = 0
        self.best: list[float] = []
        self.intervals: list[tuple[float, float]] = []
        self.root_end = 0.0
        self.last_submit = 0.0

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> SimResult:
        root = self.tree.add(baseline_spec(), None, self.clock)
        self.known |= known_keys(self.tree)
        self.queue.append(root.id)
        stop = ""
        while True:
            if len(self.tree) >= self.cfg.nodes and not self.queue:
                stop = stop or f"max_nodes={self.cfg.nodes} reached"
            if not stop:
                self._fill()
            if not self.events:
                if stop or not (self.queue or self._can_expand()):
                    break
                stop = "no node can be expanded (every finished node failed or is full)"
                break
            self._collect(heapq.heappop(self.events))
        failed = self.tree.count(NodeStatus.FAILED)
        return SimResult(self.best, self.intervals, self.cfg.slots, self.root_end, self.last_submit,
                         stop or "nothing left to expand", max(n.depth for n in self.tree), failed,
                         self.tree if self.keep_tree else None)

    def _can_expand(self) -> bool:
        return len(self.tree) < self.cfg.nodes and self.empty < self.cfg.max_failed_expansions

    def _free(self) -> int:
        return self.cfg.slots - len(self.events)

    def _fill(self) -> None:
        if self.cfg.mode is Mode.SYNC:
            if not self.queue and not self.events:          # a new round: queue one node per slot
                while len(self.queue) < self.cfg.slots and self._can_expand() and self._expand():
                    pass
            while self._free() > 0 and self.queue:
                self._submit(self.queue.popleft())
            return
        while self._free() > 0:                              # async: the driver's _fill_slots
            if not self.queue:
                if not self._can_expand() or not self._expand():
                    return
                continue
            self._submit(self.queue.popleft())

    def _expand(self) -> bool:
        cfg = self.cfg
        self.expansions += 1
        seed = cfg.seed * 100_003 + self.expansions
        target = select_for_expansion(cfg.policy, self.tree, cfg.settings, seed)
        if target is None:
            return False
        self.clock += cfg.propose_s
        room = min(cfg.nodes - len(self.tree), cfg.settings.max_children - self.tree.n_children(target))
        specs = propose(self.tree, target, cfg.k, seed, known=self.known)[:max(room, 0)]
        self.empty = 0 if specs else self.empty + 1
        for spec in specs:
            node = self.tree.add(spec, target, self.clock)
            self.known.add(spec_key(node.spec, target))
            self.queue.append(node.id)
        return True

    def _submit(self, node_id: str) -> None:
        node = self.tree[node_id]
        parent = node.parent_id
        outcome = score(node.spec, self.adapters.get(parent) if parent else None,
                        node_rng(self.cfg.seed, int(node_id[1:])), train=parent is not None)
        self.tree.mark_running(node_id, self.clock)
        self.last_submit = self.clock
        heapq.heappush(self.events, (self.clock + outcome.duration_s, int(node_id[1:]), node_id, outcome, self.clock))

    def _collect(self, event: tuple[float, int, str, Outcome, float]) -> None:
        end, _, node_id, outcome, start = event
        self.clock = max(self.clock, end)
        self.intervals.append((start, end))
        root = self.tree.root
        base = root.score if node_id != root.id else None
        reward = normalize_reward(outcome.score, 0.0, 1.0, base=base, reference=None)
        self.tree.record(node_id, result_of(outcome), reward, self.clock)
        self.adapters[node_id] = outcome.adapter
        if node_id == root.id:
            self.root_end = self.clock
        previous = self.best[-1] if self.best else 0.0
        self.best.append(max(previous, outcome.score) if outcome.score is not None else previous)


def simulate(cfg: SimConfig, keep_tree: bool = False) -> SimResult:
    return Simulation(cfg, keep_tree).run()
