"""The search core, Optuna-style ask/tell, with no Ray, LLM client or torch in it.

`Search` owns the tree, the queue, the budgets, selection, proposals (trex.search.planner),
reward normalization, backup, reflection and saving. `ask()` gives the next job for a free
executor slot (experiments first, then the final test pass), `tell(job, result)` records one
result. Whatever runs the jobs (trex.search.loop over Ray, or bench/search's simulation) only
submits, waits and reports. The tree is saved after every change: a run killed at any instant
resumes without losing or repeating a finished node.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ftbench.base import Split
from trex import storage
from trex.config import SearchConfig
from trex.search.contracts import Job, LLMHealth, ProposalFailed, Proposer
from trex.search.cost import learned_cost
from trex.search.fidelity import Rungs, promotable
from trex.search.planner import Numeric, Origin, Planner
from trex.search.root import TEST_JOBS, baseline_spec
from trex.track.base import NoTracker, Tracker
from trex.track.report import FinalScores, render_summary
from trex.tree.budget import budget_spent
from trex.tree.policy import PolicySettings, normalize_reward, select_for_expansion
from trex.tree.records import ExperimentSpec, Node, NodeStatus, RunResult
from trex.tree.store import Tree, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    tree: Tree
    final: FinalScores
    stop_reason: str
    wall_s: float
    failure: str = ""      # why the search failed as infrastructure ('' when it did not): exit non-zero


class Search:
    def __init__(self, config: SearchConfig, planner: Planner, *, run_dir: Path | None = None,
                 metric: str = "score", tracker: Tracker | None = None, reference_score: float | None = None,
                 task_version: str = "",
                 max_train_samples: int | None = None, tree: Tree | None = None, requeue_lost: bool = True,
                 llm: LLMHealth | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, artifacts: str | None = None,
                 on_save: Callable[[], None] | None = None) -> None:
        self.config, self.planner, self.run_dir, self.metric = config, planner, run_dir, metric
        self.task_version = task_version   # shown beside the final scores (splits and scoring rules)
        self.artifacts = artifacts      # where executors put node artifacts: a storage URI (None: run_dir)
        self.on_save = on_save          # after every save (e.g. mirror the run's records to storage)
        self.proposer: Proposer | None = planner.proposer
        self.tracker = tracker or NoTracker()
        self.reference, self.max_train_samples, self.requeue_lost = reference_score, max_train_samples, requeue_lost
        self.llm, self.clock, self.wall = llm, clock, wall
        self.tree = tree if tree is not None else Tree(task=run_dir.name if run_dir else "search")
        self.rungs = Rungs.of(config)
        if self.rungs is not None:
            planner.work_share = self.rungs.fractions[0]    # children are sized by their first job
        self.promoting: dict[str, Job] = {}        # node id -> its promotion job in flight (asha)
        self.promotion_failed: set[str] = set()
        self.policy = PolicySettings.of(config)
        self.group = run_dir.name if run_dir else "search"
        self.queue: deque[str] = deque()
        self.running: set[str] = set()
        self.requeued: set[str] = set()          # nodes re-queued once after losing their executor
        self.stop_reason = ""
        self.empty_proposals = 0
        self.last_llm_error = ""
        self.too_late: float | None = None        # every child of the last expansion was dropped for lack of time
        self.expansions = sum(1 for _ in self.tree)   # seeds stay fresh across resumed sessions
        self.started = clock()
        self.tests: deque[Job] | None = None      # the final test pass, once the search has stopped
        self.tests_out = 0                         # test jobs asked for and not yet told
        self.test_scores: dict[str, float | None] = {}
        self.final = FinalScores(None, None)

    # -- ask / tell -----------------------------------------------------------------
    def start(self) -> None:
        """Plant the root, or re-attach what a killed session left (results on disk, queued nodes)."""
        if len(self.tree) == 0:
            root = self._add(baseline_spec(self.max_train_samples), None, origin=Origin.ROOT)
            if self.proposer is not None:
                self.tree.add_usage(self.proposer.start(root.id, seed=self.config.seed))
            self._save()
            return
        for node in list(self.tree):
            if node.done:
                continue
            landed = self.node_dir(node.id) / "result.json" if self.run_dir else None
            if landed is not None and landed.is_file():
                log.info("resume: re-attaching the result of %s", node.id)
                self._record(node.id, RunResult.model_validate_json(landed.read_text()))
            else:
                self.tree.requeue(node.id)
                self.queue.append(node.id)
        if self.proposer is not None:
            self.proposer.start(self.tree.root.id, seed=self.config.seed)   # reloads brief.json and insights.json
        log.info("resume: %d finished node(s) kept, %d re-queued", sum(n.done for n in self.tree), len(self.queue))
        self._save()

    def ask(self) -> Job | None:
        """The next job for one free slot, or None when nothing may start now (`done` tells
        whether anything ever will). Once the search stops and its last node finishes, the jobs
        of the final test pass come from here too."""
        if self.tests is not None:
            if not self.tests:
                return None
            self.tests_out += 1
            return self.tests.popleft()
        if not self.stop_reason:
            if (promotion := self._promotion()) is not None:
                return promotion
            self.stop_reason = self._next_node_or_stop()
            if self.queue and not self.stop_reason:
                return self._job(self.queue.popleft())
        if self.stop_reason and not self.busy:
            self._begin_tests()
            return self.ask()
        return None

    def tell(self, job: Job, result: RunResult, lost: bool = False) -> None:
        """Record a job's result; `lost`: its executor died (the node is re-queued once)."""
        if job.split is Split.TEST:
            self.tests_out -= 1
            self.test_scores["base" if job.node_id == self.tree.root.id else "best"] = result.score
            base = self.test_scores.get("base")
            self.final = FinalScores(base_test=base, best_test=self.test_scores.get("best", base))
            if self.run_dir is not None:
                write_json(self.node_dir(job.node_id) / "result-test.json", result.model_dump(mode="json"))
            return
        if job.rung > 0:
            self._promoted(job, result, lost)
            return
        self.running.discard(job.node_id)
        if lost and self.requeue_lost and job.node_id not in self.requeued:
            self.requeued.add(job.node_id)
            log.warning("%s lost its executor; re-queued once: %s", job.node_id, (result.error or "")[:200])
            self.tree.requeue(job.node_id)
            self.queue.appendleft(job.node_id)
            self._save()
            return
        self._record(job.node_id, result)

    @property
    def done(self) -> bool:
        return self.tests is not None and not self.tests and self.tests_out == 0

    def poll(self) -> None:
        """Notice a time, device or token budget that ran out while every slot was busy."""
        if not self.stop_reason and self.tests is None:
            self.stop_reason = self._budget(count_nodes=False)

    @property
    def cancel_requested(self) -> bool:
        """The budget ran out under on_budget=cancel: the caller stops running nodes and tells them."""
        return bool(self.stop_reason) and self.config.on_budget == "cancel" and self.busy

    @property
    def slots_wanted(self) -> int | None:
        """Executors the search can still use: None while it may start experiments; after the
        budget, the jobs in flight but at least the final test pass's two (base and best); in the
        test pass, the test jobs left. The rest can be released."""
        if self.tests is not None:
            return len(self.tests) + self.tests_out
        if self.stop_reason:
            return max(len(self.running) + len(self.promoting), TEST_JOBS)
        return None

    @property
    def busy(self) -> bool:
        """A node's job or a promotion is running."""
        return bool(self.running or self.promoting)

    def give_up(self, reason: str) -> None:
        """No executor can be placed: stop (queued nodes stay queued for a resume) or skip the tests."""
        if self.tests is not None:
            log.warning("test evaluation skipped: %s", reason)
            self.tests.clear()
            return
        self.stop_reason = self.stop_reason or reason
        if not self.busy:
            self._begin_tests()

    def interrupt(self) -> list[str]:
        """Ctrl-C: every running node goes back to the queue, so a resume runs it again. This
        covers nodes whose job was being submitted or collected when the signal came."""
        node_ids = sorted(n.id for n in self.tree
                          if not n.done and (n.id in self.running or n.status is NodeStatus.RUNNING))
        for node_id in node_ids:
            self.tree.requeue(node_id)
        self.running.clear()
        self.promoting.clear()      # a promotion cut short is lost; the node keeps its lower rung
        self._save()
        return node_ids

    def elapsed_s(self) -> float:
        return self.tree.spent_s + (self.clock() - self.started)

    # -- deciding what runs next -----------------------------------------------------
    def _next_node_or_stop(self) -> str:
        """Fill the queue if it is empty; returns why the search stops ('' to go on)."""
        while True:     # budgets are checked again after each expansion: an LLM call can outlast them
            if self.llm is not None and self.llm.failure:
                return f"the agent LLM server cannot be kept up: {self.llm.failure}"
            if reason := self._budget(count_nodes=False):
                return reason
            self._hold_late()
            if self.queue:
                return ""
            if reason := self._budget(count_nodes=True):
                return "" if self.busy else reason
            if self.empty_proposals >= self.config.max_failed_expansions:
                cause = f" (last error: {self.last_llm_error[:200]})" if self.last_llm_error else ""
                who = "the Researcher" if self.planner.numeric is Numeric.LLM else "the Researcher and the sampler"
                return f"{who} produced no new valid experiment {self.empty_proposals} times in a row{cause}"
            if not self._expand():
                return "" if self.busy else "no node can be expanded (every finished node failed or is full)"
            if self.too_late is not None:
                return (f"max_minutes={self.config.max_minutes:g} nearly reached: no experiment fits in the "
                        f"{self.too_late:.0f} s left")

    def _hold_late(self) -> None:
        """Queued nodes predicted to run past max_minutes are not started (a node sized when it
        was planned may wait for a slot until it no longer fits); they stay PENDING, never run
        in this session, and a resume with more time runs them."""
        cost = learned_cost(self.tree)
        if cost is None or not self.queue:
            return
        left = self.config.max_minutes * 60 - self.elapsed_s()
        for node_id in list(self.queue):
            node = self.tree[node_id]
            if node.parent_id is not None and cost.predict(node.spec, self.planner.work_share) > left:
                self.queue.remove(node_id)
                log.info("%s not started: predicted %.0f s, %.0f s left before max_minutes=%g", node_id,
                         cost.predict(node.spec, self.planner.work_share), left, self.config.max_minutes)

    def _budget(self, count_nodes: bool) -> str:
        c = self.config
        return budget_spent(self.tree, max_nodes=c.max_nodes if count_nodes else None, max_minutes=c.max_minutes,
                            elapsed_s=self.elapsed_s(), max_device_hours=c.max_device_hours,
                            max_llm_tokens=c.max_llm_tokens)

    def _expand(self) -> bool:
        """Plan children of the selected node; False if no node can be chosen now."""
        c = self.config
        self.expansions += 1
        seed = c.seed * 100_003 + self.expansions   # a new seed for every expansion
        target = select_for_expansion(c.policy, self.tree, self.policy, seed)
        if target is None:
            return False
        room = min(c.max_nodes - len(self.tree), c.max_children - self.tree.n_children(target))
        deaths = len(self.llm.deaths) if self.llm else 0
        try:
            planned = self.planner.plan(self.tree, target, room, seed,
                                        seconds_left=lambda: c.max_minutes * 60 - self.elapsed_s())
        except ProposalFailed as err:
            if self._died_under_call(deaths, target):
                return True
            self.empty_proposals += 1
            self.last_llm_error = str(err)
            log.warning("Researcher call for %s failed (%d in a row): %s", target, self.empty_proposals, err)
            return True
        if planned.llm_error and self._died_under_call(deaths, target):
            return True
        self.tree.add_usage(planned.usage)
        self.too_late = planned.too_late
        self.last_llm_error = planned.llm_error
        self.empty_proposals = 0 if planned.children or planned.too_late is not None else self.empty_proposals + 1
        for spec, origin in planned.children:
            self._add(spec, target, usage=planned.usage, origin=origin)
        log.info("expanded %s: %d new experiment(s) (%s), %d rejected", target, len(planned.children),
                 ", ".join(o.value for _, o in planned.children) or "none", planned.rejected)
        self._save()
        return True

    def _died_under_call(self, deaths: int, target: str) -> bool:
        """The LLM server died under this call: not the Researcher's fault; wait for the restart."""
        if self.llm is None or len(self.llm.deaths) <= deaths:
            return False
        log.warning("Researcher call for %s lost to a server death (if this repeats, the request itself may "
                    "crash the server); waiting for the restart", target)
        self.llm.wait_up()
        return True

    def _add(self, spec: ExperimentSpec, parent_id: str | None, **kw) -> Node:
        node = self.tree.add(spec, parent_id, self.wall(), **kw)
        if self.run_dir is not None:
            self.node_dir(node.id).mkdir(parents=True, exist_ok=True)
            write_json(self.node_dir(node.id) / "spec.json", spec.model_dump(mode="json"))
        self.queue.append(node.id)
        return node

    def _job(self, node_id: str) -> Job:
        node = self.tree[node_id]
        parent = self.tree[node.parent_id] if node.parent_id else None
        self.tree.mark_running(node_id, self.wall())
        self.running.add(node_id)
        self._save()
        self.tracker.node_started(self.tree[node_id], self.group)
        staged = self.rungs is not None and parent is not None
        return Job(node_id=node_id, spec=node.spec, node_dir=self.location(node_id),
                   seed=self.config.seed + int(node_id[1:]), train=parent is not None, data_seed=self.config.seed,
                   parent_adapter=parent.result.adapter_path if parent and parent.result else None,
                   parent_id=node.parent_id,
                   segment=self.rungs.segment(0) if staged and self.rungs is not None else (0.0, 1.0),
                   dev_fraction=self.rungs.dev_fraction(0) if staged and self.rungs is not None else 1.0)

    # -- multi-fidelity promotion (search.fidelity=asha) --------------------------------
    def _promotion(self) -> Job | None:
        """The job continuing the best promotable node's training one rung up, if one fits in
        the time left; budgets other than max_nodes stop promotions too."""
        if self.rungs is None or self._budget(count_nodes=False):
            return None
        cost = learned_cost(self.tree)
        left = self.config.max_minutes * 60 - self.elapsed_s()
        for node_id, rung in promotable(self.tree, self.rungs, set(self.promoting), self.promotion_failed):
            node = self.tree[node_id]
            start, end = self.rungs.segment(rung)
            if cost is not None and cost.predict(node.spec, end - start) > left:
                continue
            assert node.result is not None
            job = Job(node_id=node_id, spec=node.spec, node_dir=self.location(node_id, f"rung{rung}"),
                      seed=self.config.seed + int(node_id[1:]), data_seed=self.config.seed,
                      parent_adapter=node.result.adapter_path, parent_id=node.parent_id, rung=rung,
                      segment=(start, end), dev_fraction=self.rungs.dev_fraction(rung))
            self.promoting[node_id] = job
            log.info("promoting %s to rung %d (training %.0f%% -> %.0f%% of its spec)", node_id, rung,
                     100 * start, 100 * end)
            return job
        return None

    def _promoted(self, job: Job, result: RunResult, lost: bool) -> None:
        """Record a promotion: the node's result, reward and backup become the higher rung's."""
        self.promoting.pop(job.node_id, None)
        node = self.tree[job.node_id]
        if lost or result.status is not NodeStatus.SUCCEEDED or result.score is None or node.result is None:
            self.promotion_failed.add(job.node_id)
            log.warning("%s: promotion to rung %d failed; it keeps rung %d: %s", job.node_id, job.rung,
                        job.rung - 1, (result.error or "")[:300])
            return
        merged = result.model_copy(update={"cost": node.result.cost + result.cost,
                                           "llm_usage": node.result.llm_usage + result.llm_usage})
        if self.run_dir is not None:
            (rung_dir := self.node_dir(job.node_id) / f"rung{job.rung}").mkdir(parents=True, exist_ok=True)
            write_json(rung_dir / "result.json", result.model_dump(mode="json"))
            write_json(self.node_dir(job.node_id) / "result.json", merged.model_dump(mode="json"))
        self.tree.add_usage(result.llm_usage)
        promoted = self.tree.promote(job.node_id, merged, self._reward(job.node_id, result.score), self.wall())
        self._save()
        log.info("%s promoted to rung %d: dev %s %.3f -> %.3f", job.node_id, job.rung, self.metric,
                 node.score or 0.0, result.score)
        self.tracker.log_node(promoted, self.group)

    # -- results ----------------------------------------------------------------------
    def _record(self, node_id: str, result: RunResult) -> None:
        """Write the node's result file first, then the tree: a crash between the two is
        repaired on resume by re-attaching result.json."""
        if self.run_dir is not None:
            write_json(self.node_dir(node_id) / "result.json", result.model_dump(mode="json"))
        reward = self._reward(node_id, result.score)
        self.tree.add_usage(result.llm_usage)      # data operators' LLM calls count toward the budget
        node = self.tree.record(node_id, result, reward, self.wall())
        if self.proposer is not None:
            finished = self.proposer.on_finished(self.tree, node_id, seed=self.config.seed * 100_003 + len(self.tree))
            self.tree.add_usage(finished.usage)
            if finished.diagnosis is not None:
                self.tree.set_diagnosis(node_id, finished.diagnosis)
        self._save()
        log.info("%s %s: dev %s=%s (%.0fs)", node_id, result.status.value, self.metric,
                 "-" if result.score is None else f"{result.score:.3f}", result.cost.total_s)
        self.tracker.log_node(node, self.group)

    def _reward(self, node_id: str, score: float | None) -> float:
        base = self.tree.root.score if node_id != self.tree.root.id else None
        return normalize_reward(score, 0.0, 1.0, base=base, reference=self.reference,
                                failed=self.config.failed_reward)

    # -- the end ------------------------------------------------------------------------
    def _begin_tests(self) -> None:
        """Jobs scoring the base model and the best node once on the hidden test split."""
        self.tests = deque()
        root, best = self.tree.root, self.tree.best()
        if root.status is not NodeStatus.SUCCEEDED:
            return
        self.tests.append(Job(node_id=root.id, spec=root.spec, node_dir=self.location(root.id),
                              seed=self.config.seed, train=False, split=Split.TEST))
        if best is not None and best.id != root.id and best.result:
            self.tests.append(Job(node_id=best.id, spec=best.spec, node_dir=self.location(best.id),
                                  seed=self.config.seed, train=False, split=Split.TEST,
                                  adapter=best.result.adapter_path))

    def finish(self) -> Outcome:
        """Write summary.md and final.json; the search's outcome."""
        self._save()
        wall = self.elapsed_s()
        stop = self.stop_reason or "no node left to expand"
        if self.run_dir is not None:
            summary = render_summary(self.tree, self.metric, self.final, stop, wall, self.task_version)
            (self.run_dir / "summary.md").write_text(summary)
            write_json(self.run_dir / "final.json", {"stop_reason": stop, "wall_s": wall,
                                                     "task_version": self.task_version,
                                                     "base_test": self.final.base_test,
                                                     "best_test": self.final.best_test,
                                                     "best_node": (self.tree.best() or self.tree.root).id})
        if self.on_save is not None:
            self.on_save()
        self.tracker.finish()
        log.info("search stopped: %s", stop)
        return Outcome(self.tree, self.final, stop, wall, self._failure(stop))

    def _failure(self, stop_reason: str) -> str:
        """Why this search failed as infrastructure, or '': the agent LLM server was given up on,
        the base model could not be evaluated, or no experiment ever ran because the LLM endpoint
        kept failing (a weak LLM's invalid proposals are the search's result, not a failure)."""
        if self.llm is not None and self.llm.failure:
            return stop_reason
        root = self.tree.root
        if root.status is NodeStatus.FAILED:
            # a FAILED result always carries its error
            return f"the base model's evaluation failed: {cast(str, root.result.error if root.result else '')[:300]}"
        if len(self.tree) == 1 and self.last_llm_error and not self._budget(count_nodes=False):
            return f"no experiment was run: {stop_reason}"
        return ""

    def node_dir(self, node_id: str) -> Path:
        """The node's folder in the driver's run folder (spec.json, result.json)."""
        return (self.run_dir or Path(".")) / "nodes" / node_id

    def location(self, node_id: str, *sub: str) -> str:
        """Where the node's job puts its artifacts: under the storage URI, or the node's folder."""
        if self.artifacts is None:
            return str(self.node_dir(node_id).joinpath(*sub))
        return storage.join(self.artifacts, "nodes", node_id, *sub)

    def _save(self) -> None:
        if self.run_dir is None:
            return
        spent, self.tree.spent_s = self.tree.spent_s, self.elapsed_s()
        self.tree.save(self.run_dir / "tree.json")
        self.tree.spent_s = spent
        if self.on_save is not None:
            self.on_save()
