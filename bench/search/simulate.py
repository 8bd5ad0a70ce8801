"""The search benchmark's simulation: trex's own search core and loop (trex.search), driven on a
simulated clock. Only the executors (the response surface, as a Pool) and the Researcher (the
random-edit proposer, as a Proposer) are simulated; selection, proposals, the numeric sampler,
budgets and backup are the product's code.

- async (what trex does): whenever a slot is free, the core is asked for a job;
- sync (rounds): the loop asks only when nothing runs (a comparison, not a trex mode).

`propose_s` is the simulated Researcher latency per call; the loop is blocked while it runs, as
trex's is. The budget is `nodes` nodes, the root (the base model's evaluation) included.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace
from enum import StrEnum

from bench.search.proposer import propose
from bench.search.surface import Adapter, Outcome, score
from trex.config import SearchConfig
from trex.search.contracts import Finished, Job, Proposal
from trex.search.core import Search
from trex.search.loop import Loop, Timeouts
from trex.search.planner import Numeric, Planner
from trex.search.sampler import NumericSampler
from trex.search.space import Space
from trex.tree.policy import PolicySettings
from trex.tree.records import Cost, LLMUsage, NodeStatus, RunResult
from trex.tree.store import Tree

# The surface's whole space (bench/search/surface.py), as the sampler sees it.
SIM_SPACE = Space(lr_min=1e-5, lr_max=2e-3, max_epochs=10, min_samples=16, max_samples=50_000, min_rank=1,
                  max_rank=256)


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
    numeric: Numeric = Numeric.LLM      # llm: the random proposer's values | sampler | hybrid
    sampler_startup: int = 4
    sampler_children: int = 1
    minutes: float | None = None        # a wall budget (simulated minutes) on top of `nodes`
    fidelity: str = "full"              # full | asha (search.fidelity)
    eta: int = 3
    min_fidelity: float = 1 / 3
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
    chosen_true: float | None = None        # noiseless full-dev score of the node the search returns as best

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


def result_of(outcome: Outcome, train_samples: int = 0) -> RunResult:
    ok = outcome.score is not None
    return RunResult(status=NodeStatus.SUCCEEDED if ok else NodeStatus.FAILED, score=outcome.score,
                     error=outcome.error, cost=Cost(total_s=outcome.duration_s, train_s=outcome.duration_s,
                                                    train_samples=train_samples))


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SimPool:
    """Executors on the simulated clock: a job's outcome is drawn when it starts; `wait` jumps
    the clock to the earliest end. The final test pass takes no simulated time."""

    def __init__(self, slots: int, seed: int, clock: SimClock) -> None:
        self.slots, self.seed, self.clock = slots, seed, clock
        self.events: list[tuple[float, int]] = []                 # (end, handle)
        self.jobs: dict[int, tuple[Job, Outcome, float]] = {}     # handle -> (job, outcome, start)
        self.adapters: dict[str, Adapter | None] = {}
        self.true: dict[str, float | None] = {}                   # node -> noiseless score of its latest adapter
        self.intervals: list[tuple[float, float]] = []
        self.last_submit = 0.0
        self.n = 0

    @property
    def free(self) -> int:
        return self.slots - len(self.jobs)

    @property
    def size(self) -> int:
        return self.slots

    def submit(self, job: Job) -> int:
        self.n += 1
        test = job.split != "dev"
        outcome = Outcome(None, 0.0, None) if test else score(
            job.spec, self.adapters.get(job.parent_id) if job.parent_id else None,
            node_rng(self.seed, int(job.node_id[1:]) + 100_000 * job.rung), train=job.train,
            segment=job.segment, dev_fraction=job.dev_fraction)
        self.jobs[self.n] = (job, outcome, self.clock.now)
        heapq.heappush(self.events, (self.clock.now + outcome.duration_s, self.n))
        if not test:
            self.last_submit = self.clock.now
        return self.n

    def wait(self, handles: list[int], timeout_s: float) -> list[int]:
        end, handle = heapq.heappop(self.events)
        self.clock.now = max(self.clock.now, end)
        return [handle]

    def result(self, handle: int) -> tuple[RunResult, bool]:
        job, outcome, start = self.jobs[handle]
        if job.split == "dev":
            if outcome.score is not None or not job.rung:     # a failed promotion keeps the rung below
                self.adapters[job.node_id], self.true[job.node_id] = outcome.adapter, outcome.true_score
            self.intervals.append((start, self.clock.now))
        result = result_of(outcome, job.spec.data.max_samples if job.train else 0)
        return result.model_copy(update={"fidelity": job.segment[1] if job.train else 1.0,
                                         "dev_fraction": job.dev_fraction}), False

    def release(self, handle: int, actor_died: bool) -> Job:
        return self.jobs.pop(handle)[0]

    def wait_for_room(self, seconds: float) -> bool:
        return self.free > 0

    def limit(self, wanted: int | None) -> None:
        self.wanted = wanted


class SimProposer:
    """The random-edit proposer as trex's Researcher would be called; each call costs `latency_s`."""

    def __init__(self, k: int, latency_s: float, clock: SimClock) -> None:
        self.k, self.latency_s, self.clock = k, latency_s, clock

    def start(self, root_id: str, seed: int) -> LLMUsage:
        return LLMUsage()

    def propose(self, tree: Tree, node_id: str, seed: int, hint: str = "") -> Proposal:
        self.clock.now += self.latency_s
        return Proposal(specs=propose(tree, node_id, self.k, seed), usage=LLMUsage(calls=1, seconds=self.latency_s))

    def on_finished(self, tree: Tree, node_id: str, seed: int) -> Finished:
        return Finished()


def simulate(cfg: SimConfig, keep_tree: bool = False) -> SimResult:
    """One simulated search with trex's core and loop."""
    clock = SimClock()
    s = cfg.settings
    search_cfg = replace(SearchConfig(), policy=cfg.policy, max_nodes=cfg.nodes, max_minutes=cfg.minutes or 1e9,
                         fidelity=cfg.fidelity, eta=cfg.eta, min_fidelity=cfg.min_fidelity,
                         children_per_expansion=cfg.k, max_children=s.max_children, exploration=s.exploration,
                         backup=s.backup.value, virtual_loss=s.virtual_loss,
                         max_failed_expansions=cfg.max_failed_expansions, seed=cfg.seed)
    proposer = None if cfg.numeric is Numeric.SAMPLER else SimProposer(cfg.k, cfg.propose_s, clock)
    planner = Planner(cfg.numeric, proposer, NumericSampler(SIM_SPACE, startup=cfg.sampler_startup), cfg.k,
                      sampler_children=cfg.sampler_children)
    search = Search(search_cfg, planner, clock=clock, wall=clock)
    pool = SimPool(cfg.slots, cfg.seed, clock)
    out = Loop(search, pool, clock=clock, poll_s=0.0, timeouts=Timeouts(1e12, 1e12),
               rounds=cfg.mode is Mode.SYNC).run()
    finished = sorted((n for n in out.tree if n.done), key=lambda n: (n.finished_at or 0.0, int(n.id[1:])))
    best, top = [], 0.0
    for node in finished:
        top = max(top, node.score) if node.score is not None else top
        best.append(top)
    root = out.tree.root
    return SimResult(best, pool.intervals, cfg.slots, root.finished_at or 0.0, pool.last_submit, out.stop_reason,
                     max(n.depth for n in out.tree), out.tree.count(NodeStatus.FAILED),
                     out.tree if keep_tree else None, pool.true.get((out.tree.best() or root).id))
