"""The Ray-free search core and its loop, driven by an in-memory pool: every budget, requeue,
cancel, interrupt, resume, the final test pass, and the three proposal modes. Milliseconds each."""
from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from trex.config import SearchConfig
from trex.search.contracts import Finished, Job, Proposal, ProposalFailed
from trex.search.core import Search, baseline_spec
from trex.search.loop import Loop, SearchInterrupted
from trex.search.planner import Numeric, Origin, Planner
from trex.search.sampler import NumericSampler
from trex.search.space import Space
from trex.tree.records import Cost, Direction, LLMUsage, NodeStatus, RunResult
from trex.tree.store import Tree


def dev_score(job: Job) -> float:
    """A smooth surface: best near lr 1e-3 and 3 epochs; the untrained base scores 0.3."""
    if not job.train:
        return 0.3 if job.adapter is None else 0.6
    t = job.spec.train
    return 0.8 - 0.2 * abs(math.log10(t.learning_rate) + 3.0) - 0.05 * abs(t.epochs - 3)


class FakePool:
    """Runs each job at submit time; `wait` hands back the oldest. `lose`: node ids whose executor
    dies once; `hang`: node ids that never finish (for timeouts and interrupts)."""

    def __init__(self, slots: int = 2, lose: set[str] = frozenset(), hang: set[str] = frozenset(),
                 interrupt_after: int | None = None) -> None:
        self.slots, self.lose, self.hang = slots, set(lose), set(hang)
        self.busy: dict[int, Job] = {}
        self.n = 0
        self.submitted: list[Job] = []
        self.killed: list[str] = []
        self.interrupt_after = interrupt_after
        self.limits: list[int | None] = []     # each change of the executors the search can use

    @property
    def free(self) -> int:
        return self.slots - len(self.busy)

    @property
    def size(self) -> int:
        return self.slots

    def submit(self, job: Job) -> int:
        self.n += 1
        self.busy[self.n] = job
        self.submitted.append(job)
        if self.interrupt_after is not None and len(self.submitted) > self.interrupt_after:
            raise KeyboardInterrupt
        return self.n

    def wait(self, handles: list[int], timeout_s: float) -> list[int]:
        ready = [h for h in handles if self.busy[h].node_id not in self.hang]
        return ready[:1]

    def result(self, handle: int) -> tuple[RunResult, bool]:
        job = self.busy[handle]
        if job.node_id in self.lose:
            self.lose.discard(job.node_id)
            return RunResult(status=NodeStatus.FAILED, error="executor died: node lost"), True
        return RunResult(status=NodeStatus.SUCCEEDED, score=dev_score(job), adapter_path=f"/a/{job.node_id}",
                         cost=Cost(total_s=60, train_s=50, eval_s=10, train_samples=job.spec.data.max_samples)), False

    def release(self, handle: int, actor_died: bool) -> Job:
        if actor_died:
            self.killed.append(self.busy[handle].node_id)
        return self.busy.pop(handle)

    def wait_for_room(self, seconds: float) -> bool:
        return self.free > 0

    def limit(self, wanted: int | None) -> None:
        if not self.limits or self.limits[-1] != wanted:
            self.limits.append(wanted)


class ScriptedProposer:
    """Proposes children that change the learning rate; `fail`: raise ProposalFailed instead;
    `repeat`: always return a copy of the parent (a duplicate)."""

    def __init__(self, fail: bool = False, repeat: bool = False) -> None:
        self.fail, self.repeat, self.calls, self.hints = fail, repeat, 0, []

    def start(self, root_id: str, seed: int) -> LLMUsage:
        return LLMUsage()

    def propose(self, tree: Tree, node_id: str, seed: int, hint: str = "") -> Proposal:
        self.calls += 1
        self.hints.append(hint)
        if self.fail:
            raise ProposalFailed("connection refused")
        parent = tree[node_id].spec
        if self.repeat:
            return Proposal(specs=[], rejected=["same settings"], duplicates=[parent], usage=LLMUsage(calls=1))
        grid = (1e-4, 2e-4, 1e-3, 2e-3)
        lr = grid[(self.calls + seed) % len(grid)]
        spec = parent.model_copy(update={"objective": f"lr {lr}", "direction": Direction.LEARNING_RATE,
                                         "train": parent.train.model_copy(update={"learning_rate": lr})})
        return Proposal(specs=[spec], usage=LLMUsage(calls=1, seconds=1.0))

    def on_finished(self, tree: Tree, node_id: str, seed: int) -> Finished:
        return Finished()


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(numeric: Numeric = Numeric.SAMPLER, proposer: ScriptedProposer | None = None, *,
         run_dir: Path | None = None, tree: Tree | None = None, clock: Clock | None = None,
         **search: object) -> Search:
    config = replace(SearchConfig(max_nodes=8, max_minutes=60, max_failed_expansions=3), **search)
    planner = Planner(numeric, proposer, NumericSampler(Space(), startup=3), k=2, max_samples=512)
    return Search(config, planner, run_dir=run_dir, tree=tree, clock=clock or Clock(), max_train_samples=512)


def run(search: Search, pool: FakePool | None = None, **loop: object):
    return Loop(search, pool or FakePool(), poll_s=0, **loop).run()


def test_sampler_mode_fills_the_node_budget_then_tests_base_and_best() -> None:
    pool = FakePool()
    out = run(make(), pool)
    assert out.stop_reason == "max_nodes=8 reached"
    assert len(out.tree) == 8 and out.tree.count(NodeStatus.SUCCEEDED) == 8
    assert [n.origin for n in out.tree][1:] == ["sampler"] * 7
    tests = [j for j in pool.submitted if j.split == "test"]
    assert [j.node_id for j in tests] == [out.tree.root.id, out.tree.best().id]
    assert out.final.base_test == 0.3 and out.final.best_test == 0.6 and out.failure == ""


def test_the_pool_is_told_how_many_executors_the_search_can_still_use() -> None:
    """None while experiments may start; after the budget, what is in flight (the drain); in the
    test pass, the test jobs left: the rest of the executors can be released."""
    pool = FakePool()
    run(make(), pool)
    assert pool.limits == [None, 2, 1]     # searching; the two test jobs; the last one
    search = make(max_nodes=3)
    search.start()
    assert search.slots_wanted is None
    jobs = [search.ask(), search.ask()]
    search.stop_reason = "max_minutes=60 reached"       # the budget ran out with nodes in flight
    search.running.add("n0099")
    assert search.slots_wanted == 3
    search.tell(jobs[0], RunResult(status=NodeStatus.SUCCEEDED, score=0.4))
    assert search.slots_wanted == 2                     # the drain: one executor can go
    search.tell(jobs[1], RunResult(status=NodeStatus.SUCCEEDED, score=0.4))
    assert search.slots_wanted == 2, "the final test pass needs two executors: never release below"


def test_hybrid_never_stops_early_when_the_llm_fails() -> None:
    proposer = ScriptedProposer(fail=True)
    out = run(make(Numeric.HYBRID, proposer))
    assert len(out.tree) == 8 and out.stop_reason == "max_nodes=8 reached"
    assert {n.origin for n in out.tree if n.parent_id} == {Origin.SAMPLER}
    assert proposer.calls >= 3 and out.failure == ""


def test_llm_mode_stops_after_max_failed_expansions_and_reports_infrastructure_failure() -> None:
    out = run(make(Numeric.LLM, ScriptedProposer(fail=True)))
    assert len(out.tree) == 1
    assert "no new valid experiment 3 times in a row" in out.stop_reason and "connection refused" in out.stop_reason
    assert out.failure.startswith("no experiment was run")


def test_hybrid_keeps_the_llms_change_and_lets_tpe_set_the_moved_knob() -> None:
    proposer = ScriptedProposer()
    out = run(make(Numeric.HYBRID, proposer, max_nodes=12))
    root = out.tree.root.spec
    children = [n for n in out.tree if n.parent_id]
    assert Origin.HYBRID in {n.origin for n in children}        # TPE took over once 3 had finished
    for node in children:
        parent = out.tree[node.parent_id].spec
        if node.origin in (Origin.LLM, Origin.HYBRID):   # only the learning rate moves; the rest stays
            assert (node.spec.train.epochs, node.spec.data.max_samples) == (parent.train.epochs,
                                                                            parent.data.max_samples)
    assert root.train.learning_rate == 5e-4
    assert any("sampler (TPE) has seen" in h for h in proposer.hints)   # the prompt learns what TPE learned


def test_duplicates_are_repaired_by_the_sampler() -> None:
    out = run(make(Numeric.HYBRID, ScriptedProposer(repeat=True), max_nodes=5))
    assert len(out.tree) == 5
    assert Origin.REPAIRED in {n.origin for n in out.tree}


def test_a_lost_node_is_requeued_once_then_failed() -> None:
    pool = FakePool(lose={"n0001"})
    out = run(make(max_nodes=3), pool)
    assert [j.node_id for j in pool.submitted if j.split == "dev"].count("n0001") == 2
    assert out.tree["n0001"].status is NodeStatus.SUCCEEDED
    pool = FakePool(lose={"n0001"})
    search = make(max_nodes=3)
    search.requeued.add("n0001")        # already re-queued once
    out = run(search, pool)
    assert out.tree["n0001"].status is NodeStatus.FAILED


def test_max_minutes_stops_new_nodes_and_cancel_stops_running_ones() -> None:
    clock = Clock()
    search = make(clock=clock, max_minutes=1.0, on_budget="cancel")
    pool = FakePool(hang={"n0001", "n0002"})
    loop = Loop(search, pool, poll_s=0, clock=clock, on_change=lambda: setattr(clock, "t", clock.t + 30.0))
    out = loop.run()
    assert out.stop_reason == "max_minutes=1 reached"
    cancelled = [n for n in out.tree if n.result and (n.result.error or "").startswith("cancelled")]
    assert {n.id for n in cancelled} == {"n0001", "n0002"} and set(pool.killed) >= {"n0001", "n0002"}


def test_a_hung_node_times_out_and_its_executor_is_killed() -> None:
    from trex.search.loop import Timeouts

    clock = Clock()
    pool = FakePool(hang={"n0002"})
    search = make(clock=clock, max_nodes=4)
    loop = Loop(search, pool, poll_s=0, clock=clock, timeouts=Timeouts(train_s=100, eval_s=100))
    loop.on_change = lambda: setattr(clock, "t", clock.t + 30)
    out = loop.run()
    assert "timed out after 100 s" in (out.tree["n0002"].result.error or "")
    assert "n0002" in pool.killed and len(out.tree) == 4


def test_interrupt_requeues_running_nodes_and_resume_finishes_without_repeats(tmp_path: Path) -> None:
    search = make(run_dir=tmp_path, max_nodes=6)
    with pytest.raises(SearchInterrupted) as info:
        Loop(search, FakePool(interrupt_after=4), poll_s=0).run()
    assert info.value.requeued
    saved = Tree.load(tmp_path / "tree.json")
    assert all(saved[n].status is NodeStatus.PENDING for n in info.value.requeued)
    assert "n0004" in info.value.requeued      # its submit was cut short by the signal: no handle, still re-queued
    assert not [n.id for n in saved if n.status is NodeStatus.RUNNING]
    finished_before = {n.id: n.score for n in saved if n.done}
    resumed = make(run_dir=tmp_path, tree=saved, max_nodes=6)
    pool = FakePool()
    out = run(resumed, pool)
    assert len(out.tree) == 6 and all(n.done for n in out.tree)
    assert {j.node_id for j in pool.submitted if j.split == "dev"}.isdisjoint(finished_before)
    assert (tmp_path / "summary.md").is_file() and (tmp_path / "final.json").is_file()


def test_resume_reattaches_a_result_written_before_the_tree(tmp_path: Path) -> None:
    search = make(run_dir=tmp_path, max_nodes=3)
    search.start()
    job = search.ask()
    assert job is not None
    (tmp_path / "nodes" / job.node_id / "result.json").write_text(
        RunResult(status=NodeStatus.SUCCEEDED, score=0.4).model_dump_json())
    resumed = make(run_dir=tmp_path, tree=Tree.load(tmp_path / "tree.json"), max_nodes=3)
    pool = FakePool()
    out = run(resumed, pool)
    assert out.tree.root.score == 0.4
    assert job.node_id not in {j.node_id for j in pool.submitted if j.split == "dev"}


def test_no_room_for_any_executor_gives_up_cleanly() -> None:
    out = run(make(), FakePool(slots=0), wait_for_resources_s=0)
    assert out.stop_reason.startswith("no executor could be placed") and len(out.tree) == 1


def test_the_root_is_the_template_first_children_edit() -> None:
    spec = baseline_spec(128)
    assert spec.data.max_samples == 128 and spec.train.learning_rate == 5e-4 and spec.train.epochs == 1
    assert baseline_spec().data.max_samples == 256


def test_the_core_imports_no_ray_llm_client_or_torch() -> None:
    code = ("import sys; import trex.tree.store, trex.tree.policy, trex.search.core, trex.search.loop, ftbench.base; "
            "bad = [m for m in ('ray', 'openai', 'torch', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_children_are_trimmed_to_the_time_left_or_dropped() -> None:
    from trex.search.cost import NodeCost, fit_to_time

    template = baseline_spec(512)
    spec = template.model_copy(update={"data": template.data.model_copy(update={"max_samples": 512}),
                                       "train": template.train.model_copy(update={"epochs": 2})})   # 512 x 2
    cost = NodeCost(overhead_s=60, pass_s=0.5)      # 60 + 512 s
    assert fit_to_time(spec, 600, cost) is spec
    trimmed = fit_to_time(spec, 400, cost)          # 1 epoch: 316 s
    assert trimmed is not None and (trimmed.train.epochs, trimmed.data.max_samples) == (1, 512)
    small = fit_to_time(spec, 150, cost)            # 1 epoch of 128: 124 s
    assert small is not None and small.data.max_samples == 128
    assert fit_to_time(spec, 70, cost) is None      # even 32 examples need 76 s


def test_when_no_experiment_fits_in_the_time_left_the_search_says_so() -> None:
    clock = Clock()
    search = make(clock=clock, max_minutes=10.0, max_nodes=200)
    pool = FakePool()              # every node reports 50 s training + 10 s eval: even 32 examples need ~12 s
    loop = Loop(search, pool, poll_s=0, clock=clock, on_change=lambda: setattr(clock, "t", clock.t + 9.0))
    out = loop.run()
    assert out.stop_reason.startswith("max_minutes=10 nearly reached: no experiment fits in the")
    assert out.failure == "" and search.empty_proposals == 0


def test_a_queued_node_that_no_longer_fits_in_the_time_left_is_not_started() -> None:
    """Sized when planned, a node may wait for a slot until it no longer fits: it stays PENDING
    (never run in this session) instead of holding a slot past max_minutes."""
    clock = Clock()
    search = make(clock=clock, max_minutes=10.0, max_nodes=20)
    search.start()
    root = search.ask()
    search.tell(root, RunResult(status=NodeStatus.SUCCEEDED, score=0.3))
    child = search.ask()
    search.tell(child, RunResult(status=NodeStatus.SUCCEEDED, score=0.5, cost=Cost(
        total_s=60, train_s=50, eval_s=10, train_samples=child.spec.data.max_samples)))   # 10 s + 50 s per spec
    big = child.spec.model_copy(update={"objective": "four times the work", "train": child.spec.train.model_copy(
        update={"epochs": 4 * child.spec.train.epochs})})
    late = search._add(big, root.node_id).id                      # predicted 210 s
    clock.t = 10 * 60 - 100                                         # 100 s left
    job = search.ask()
    assert job is None or job.node_id != late
    assert search.tree[late].status is NodeStatus.PENDING and late not in search.queue


def test_before_any_node_time_is_known_no_child_trains_longer_than_the_template() -> None:
    class Greedy(ScriptedProposer):       # asks for 3 epochs of 512 examples: 6x the template's work
        def propose(self, tree: Tree, node_id: str, seed: int, hint: str = "") -> Proposal:
            parent = tree[node_id].spec
            spec = parent.model_copy(update={"objective": "much more", "direction": Direction.TRAINING_LENGTH,
                                             "data": parent.data.model_copy(update={"max_samples": 512}),
                                             "train": parent.train.model_copy(update={"epochs": 3,
                                                                                      "learning_rate": 1e-3})})
            return Proposal(specs=[spec])

    search = make(Numeric.LLM, Greedy(), max_nodes=4)
    search.start()
    assert search.ask() is not None                     # the root
    child = search.ask()                                # its first child, planned while the root runs
    assert child is not None and child.train
    template = search.tree.root.spec
    assert child.spec.data.max_samples * child.spec.train.epochs <= template.data.max_samples * template.train.epochs
    assert child.spec.train.epochs == 1
