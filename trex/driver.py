"""The asynchronous search loop: the only writer of the tree and the only place that waits
on Ray futures. Keeps every executor slot busy; persists the tree after every change, so a
run killed at any instant resumes without losing or repeating a finished node."""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import openai
import ray

from ftbench.base import Split
from trex.agent.researcher import Researcher
from trex.config import SearchConfig
from trex.execute.executor import Job
from trex.execute.pool import ExecutorPool
from trex.llm.client import LLMUnavailable
from trex.llm.supervisor import Supervisor
from trex.progress import Progress
from trex.track.base import Tracker
from trex.track.report import FinalScores, render_summary
from trex.tree.budget import budget_spent
from trex.tree.policy import Backup, PolicySettings, normalize_reward, select_for_expansion
from trex.tree.records import Cost, DataRecipe, Direction, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    tree: Tree
    final: FinalScores
    stop_reason: str
    wall_s: float
    failure: str = ""      # why the search failed as infrastructure ('' when it did not): exit non-zero


@dataclass(frozen=True)
class Timeouts:
    """Seconds a job may run before it is FAILED and its executor killed and replaced."""

    train_s: float = 7200.0    # a node that trains (executor.node_timeout_s)
    eval_s: float = 1800.0     # an evaluation-only job: the root, the final test pass (executor.eval_timeout_s)

    def of(self, job: Job) -> float:
        return self.train_s if job.train else self.eval_s


class SearchInterrupted(Exception):
    """Ctrl-C: running nodes were marked for re-queue and the tree saved; resume continues it."""

    def __init__(self, run_dir: Path, requeued: list[str]) -> None:
        super().__init__(f"interrupted; {len(requeued)} running node(s) re-queued")
        self.run_dir, self.requeued = run_dir, requeued


def baseline_spec(max_samples: int | None = None) -> ExperimentSpec:
    """The root: the base model evaluated as is. Its data and training settings are the template
    the first children edit, so they are kept within the run's limit on training examples."""
    data = DataRecipe(max_samples=min(DataRecipe().max_samples, max_samples or DataRecipe().max_samples))
    return ExperimentSpec(objective="Evaluate the base model on the dev split (no training).",
                          direction=Direction.BASELINE, rationale="Reference point for every experiment.",
                          data=data)


class Driver:
    def __init__(self, *, search: SearchConfig, run_dir: Path, task_metric: str, researcher: Researcher,
                 pool: ExecutorPool, tracker: Tracker, reference_score: float | None = None,
                 max_train_samples: int | None = None, tree: Tree | None = None, requeue_lost: bool = True,
                 wait_for_resources_s: float = 300.0, timeouts: Timeouts = Timeouts(),
                 llm_server: Supervisor | None = None) -> None:
        self.search, self.run_dir, self.metric = search, run_dir, task_metric
        self.researcher, self.pool, self.tracker = researcher, pool, tracker
        self.reference, self.max_train_samples = reference_score, max_train_samples
        self.tree = tree if tree is not None else Tree(task=run_dir.name)
        self.policy = PolicySettings(exploration=search.exploration, backup=Backup(search.backup),
                                     virtual_loss=search.virtual_loss, max_children=search.max_children)
        self.group = run_dir.name
        self.requeue_lost, self.wait_for_resources_s = requeue_lost, wait_for_resources_s
        self.requeued: set[str] = set()            # nodes already re-queued once after losing their executor
        self.queue: deque[str] = deque()
        self.in_flight: dict[ray.ObjectRef, str] = {}
        self.deadlines: dict[ray.ObjectRef, tuple[float, float]] = {}   # ref -> (monotonic deadline, limit s)
        self.timeouts, self.llm_server = timeouts, llm_server
        self.started = time.monotonic()
        self.empty_proposals = 0
        self.last_llm_error = ""
        self.expansions = sum(1 for _ in self.tree)   # seeds stay fresh across resumed sessions

    # -- the loop ------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            stop_reason = self._loop()
        except KeyboardInterrupt:
            raise SearchInterrupted(self.run_dir, self._interrupt()) from None
        return self._finish(stop_reason)

    def _loop(self) -> str:
        self._start_or_resume()
        stop_reason = ""
        with Progress(self.search.max_nodes, self.tree.spent_s) as progress:
            while True:
                if not stop_reason:
                    stop_reason = self._fill_slots()
                progress.update(self.tree)
                if not self.in_flight:
                    if stop_reason or not self.queue or self.pool.size:
                        break
                    # Queued work, but no room on the cluster for any executor (nodes lost, or full).
                    log.warning("%d experiment(s) wait for room on the cluster", len(self.queue))
                    if not self._room_within(self.wait_for_resources_s):
                        stop_reason = (f"no executor could be placed for {self.wait_for_resources_s:.0f} s "
                                       "(the cluster lost nodes or is full)")
                        break
                    continue
                if stop_reason and self.search.on_budget == "cancel":
                    self._cancel_in_flight(stop_reason)
                    break
                ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=1.0)
                for ref in ready:
                    self._collect(ref)
                self._expire_overdue()
        return stop_reason or "no node left to expand"

    def elapsed_s(self) -> float:
        return self.tree.spent_s + (time.monotonic() - self.started)

    def _budget(self, count_nodes: bool) -> str:
        s = self.search
        return budget_spent(self.tree, max_nodes=s.max_nodes if count_nodes else None, max_minutes=s.max_minutes,
                            elapsed_s=self.elapsed_s(), max_device_hours=s.max_device_hours,
                            max_llm_tokens=s.max_llm_tokens)

    def _fill_slots(self) -> str:
        """Start queued nodes on free executors, expanding the tree when the queue is empty.
        Returns why the search must stop, or '' to keep going."""
        while self.pool.free:
            if self.llm_server is not None and self.llm_server.failure:
                return f"the agent LLM server cannot be kept up: {self.llm_server.failure}"
            if reason := self._budget(count_nodes=False):
                return reason
            if self.queue:
                self._submit(self.queue.popleft())
                continue
            if reason := self._budget(count_nodes=True):
                return "" if self.in_flight else reason
            if self.empty_proposals >= self.search.max_failed_expansions:
                cause = f" (last error: {self.last_llm_error[:200]})" if self.last_llm_error else ""
                return f"the Researcher produced no valid proposal {self.empty_proposals} times in a row{cause}"
            if not self._expand():
                return "" if self.in_flight else "no node can be expanded (every finished node failed or is full)"
        return ""

    def _expand(self) -> bool:
        """Ask the Researcher for children of the selected node; False if no node can be chosen now."""
        s = self.search
        self.expansions += 1
        seed = s.seed * 100_003 + self.expansions   # a new seed for every Researcher call
        target = select_for_expansion(s.policy, self.tree, self.policy, seed)
        if target is None:
            return False
        room = min(s.max_nodes - len(self.tree), s.max_children - self.tree.n_children(target))
        deaths = len(self.llm_server.deaths) if self.llm_server else 0
        try:
            proposal = self.researcher.propose(self.tree, target, seed=seed)
        except (LLMUnavailable, openai.OpenAIError) as err:
            if self.llm_server is not None and len(self.llm_server.deaths) > deaths:
                # The server died under this call: not the Researcher's fault; try again once it is back.
                log.warning("Researcher call for %s lost to a server death (if this repeats, the request itself "
                            "may crash the server); waiting for the restart", target)
                self.llm_server.wait_up()
                return True
            # A slow or failing LLM costs this expansion, never the search (the run stays resumable).
            self.empty_proposals += 1
            self.last_llm_error = str(err)
            log.warning("Researcher call for %s failed (%d in a row): %s", target, self.empty_proposals, err)
            return True
        self.tree.add_usage(proposal.usage)
        self.last_llm_error = ""      # the LLM answered: what follows is about its proposals, not the endpoint
        specs = proposal.specs[:room]
        self.empty_proposals = 0 if specs else self.empty_proposals + 1
        for spec in specs:
            node = self.tree.add(spec, target, time.time(), usage=proposal.usage)
            self._node_dir(node.id).mkdir(parents=True, exist_ok=True)
            write_json(self._node_dir(node.id) / "spec.json", spec.model_dump(mode="json"))
            self.queue.append(node.id)
        log.info("expanded %s: %d new experiment(s), %d rejected", target, len(specs), len(proposal.rejected))
        self._save()
        return True

    def _submit(self, node_id: str) -> None:
        node = self.tree[node_id]
        parent = self.tree[node.parent_id] if node.parent_id else None
        job = Job(node_id=node_id, spec=node.spec, node_dir=str(self._node_dir(node_id)),
                  seed=self.search.seed + int(node_id[1:]), train=parent is not None, data_seed=self.search.seed,
                  parent_adapter=parent.result.adapter_path if parent and parent.result else None)
        ref = self.pool.submit(job)
        self._track(ref, job)
        self.in_flight[ref] = node_id
        self.tree.mark_running(node_id, time.time())
        self._save()

    def _track(self, ref: ray.ObjectRef, job: Job) -> None:
        limit = self.timeouts.of(job)
        self.deadlines[ref] = (time.monotonic() + limit, limit)

    def _overdue(self, refs: list[ray.ObjectRef]) -> list[tuple[ray.ObjectRef, float]]:
        now = time.monotonic()
        return [(ref, self.deadlines[ref][1]) for ref in refs if now > self.deadlines[ref][0]]

    def _expire_overdue(self) -> None:
        """FAIL every node past its timeout; its (hung) executor is killed and later replaced."""
        for ref, limit in self._overdue(list(self.in_flight)):
            node_id = self.in_flight.pop(ref)
            self.deadlines.pop(ref)
            self.pool.release(ref, actor_died=True)
            log.warning("%s timed out after %.0f s; its executor was killed", node_id, limit)
            self._record(node_id, RunResult(status=NodeStatus.FAILED, cost=Cost(total_s=limit),
                                            error=f"timed out after {limit:.0f} s (executor.node_timeout_s / "
                                                  "eval_timeout_s); its executor was killed and replaced"))

    def _interrupt(self) -> list[str]:
        """Stop every running node and mark it for re-queue, so a resume runs it again."""
        requeued = []
        for ref, node_id in list(self.in_flight.items()):
            self.in_flight.pop(ref)
            self.deadlines.pop(ref, None)
            self.pool.release(ref, actor_died=True)
            self.tree.requeue(node_id)
            requeued.append(node_id)
        self._save()
        log.warning("interrupted: %d running node(s) marked for re-queue: %s", len(requeued), ", ".join(requeued))
        return requeued

    def _room_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for room for one executor."""
        deadline = time.monotonic() + seconds
        while not self.pool.free:
            if time.monotonic() > deadline:
                return False
            time.sleep(1.0)
        return True

    def _collect(self, ref: ray.ObjectRef) -> None:
        node_id = self.in_flight.pop(ref)
        self.deadlines.pop(ref, None)
        result, died = self._result_of(ref)
        self.pool.release(ref, actor_died=died)
        if died and self.requeue_lost and node_id not in self.requeued:
            self.requeued.add(node_id)
            log.warning("%s lost its executor; re-queued once: %s", node_id, (result.error or "")[:200])
            self.tree.requeue(node_id)
            self.queue.appendleft(node_id)
            self._save()
            return
        self._record(node_id, result)

    def _record(self, node_id: str, result: RunResult) -> None:
        """Write the node's result file first, then the tree: a crash between the two is
        repaired on resume by re-attaching result.json."""
        write_json(self._node_dir(node_id) / "result.json", result.model_dump(mode="json"))
        base = self.tree.root.score if node_id != self.tree.root.id else None
        reward = normalize_reward(result.score, 0.0, 1.0, base=base, reference=self.reference,
                                  failed=self.search.failed_reward)
        self.tree.add_usage(result.llm_usage)      # data operators' LLM calls count toward the budget
        node = self.tree.record(node_id, result, reward, time.time())
        self._reflect(node_id)
        self._save()
        log.info("%s %s: dev %s=%s (%.0fs)", node_id, result.status.value, self.metric,
                 "-" if result.score is None else f"{result.score:.3f}", result.cost.total_s)
        self.tracker.log_node(node, self.group)

    def _reflect(self, node_id: str) -> None:
        """The Researcher's diagnosis of a finished node (kept on the node) and, when due, its insights."""
        finished = self.researcher.on_finished(self.tree, node_id, seed=self.search.seed * 100_003 + len(self.tree))
        self.tree.add_usage(finished.usage)
        if finished.diagnosis is not None:
            self.tree.set_diagnosis(node_id, finished.diagnosis)

    def _cancel_in_flight(self, reason: str) -> None:
        for ref, node_id in list(self.in_flight.items()):
            self.in_flight.pop(ref)
            self.deadlines.pop(ref, None)
            self.pool.release(ref, actor_died=True)   # kills the actor mid-task; a fresh one replaces it
            self._record(node_id, RunResult(status=NodeStatus.FAILED, error=f"cancelled: {reason}"))

    @staticmethod
    def _result_of(ref: ray.ObjectRef) -> tuple[RunResult, bool]:
        try:
            return ray.get(ref), False
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
            return RunResult(status=NodeStatus.FAILED, error=f"executor died: {err}"[:3000]), True
        except ray.exceptions.RayTaskError as err:
            return RunResult(status=NodeStatus.FAILED, error=f"executor error: {err}"[:3000]), False

    # -- start, resume, end ------------------------------------------------------------
    def _start_or_resume(self) -> None:
        if len(self.tree) == 0:
            root = self.tree.add(baseline_spec(self.max_train_samples), None, time.time())
            self.tree.add_usage(self.researcher.start(root.id, seed=self.search.seed))
            self._node_dir(root.id).mkdir(parents=True, exist_ok=True)
            write_json(self._node_dir(root.id) / "spec.json", root.spec.model_dump(mode="json"))
            self.queue.append(root.id)
            self._save()
            return
        for node in list(self.tree):
            if node.done:
                continue
            landed = self._node_dir(node.id) / "result.json"
            if landed.is_file():
                log.info("resume: re-attaching the result of %s", node.id)
                self._record(node.id, RunResult.model_validate_json(landed.read_text()))
            else:
                self.tree.requeue(node.id)
                self.queue.append(node.id)
        self.researcher.start(self.tree.root.id, seed=self.search.seed)   # reloads brief.json and insights.json
        log.info("resume: %d finished node(s) kept, %d re-queued", sum(n.done for n in self.tree), len(self.queue))
        self._save()

    def _finish(self, stop_reason: str) -> Outcome:
        final = self._final_test()
        self._save()
        wall = self.elapsed_s()
        (self.run_dir / "summary.md").write_text(render_summary(self.tree, self.metric, final, stop_reason, wall))
        write_json(self.run_dir / "final.json", {"stop_reason": stop_reason, "wall_s": wall,
                                                 "base_test": final.base_test, "best_test": final.best_test,
                                                 "best_node": (self.tree.best() or self.tree.root).id})
        self.tracker.finish()
        log.info("search stopped: %s", stop_reason)
        return Outcome(self.tree, final, stop_reason, wall, self._failure(stop_reason))

    def _failure(self, stop_reason: str) -> str:
        """Why this search failed as infrastructure, or '': the agent LLM server was given up on,
        the base model could not be evaluated, or no experiment ever ran because the LLM endpoint
        kept failing (a weak LLM's invalid proposals are the search's result, not a failure)."""
        if self.llm_server is not None and self.llm_server.failure:
            return stop_reason
        root = self.tree.root
        if root.status is NodeStatus.FAILED:
            return f"the base model's evaluation failed: {(root.result.error if root.result else '')[:300]}"
        if len(self.tree) == 1 and self.last_llm_error and not self._budget(count_nodes=False):
            return f"no experiment was run: {stop_reason}"
        return ""

    def _final_test(self) -> FinalScores:
        """Score the base model and the best node once on the hidden test split."""
        root, best = self.tree.root, self.tree.best()
        if root.status is not NodeStatus.SUCCEEDED:
            return FinalScores(None, None)
        jobs = {"base": Job(node_id=root.id, spec=root.spec, node_dir=str(self._node_dir(root.id)),
                            seed=self.search.seed, train=False, split=Split.TEST)}
        if best is not None and best.id != root.id and best.result:
            jobs["best"] = Job(node_id=best.id, spec=best.spec, node_dir=str(self._node_dir(best.id)),
                               seed=self.search.seed, train=False, split=Split.TEST,
                               adapter=best.result.adapter_path)
        scores: dict[str, float | None] = {}
        waiting, running = list(jobs), {}
        while waiting or running:
            while waiting and self.pool.free:
                name = waiting.pop(0)
                ref = self.pool.submit(jobs[name])
                self._track(ref, jobs[name])
                running[ref] = name
            if not running:
                if not self._room_within(self.wait_for_resources_s):
                    log.warning("no executor could be placed for the test evaluation of %s; skipped", waiting)
                    break
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            if not ready:
                for ref, limit in self._overdue(list(running)):
                    name = running.pop(ref)
                    self.pool.release(ref, actor_died=True)
                    log.warning("the test evaluation of %s timed out after %.0f s; skipped", name, limit)
                continue
            ref = ready[0]
            name = running.pop(ref)
            result, died = self._result_of(ref)
            self.pool.release(ref, actor_died=died)
            scores[name] = result.score
            write_json(self._node_dir(jobs[name].node_id) / "result-test.json", result.model_dump(mode="json"))
        return FinalScores(base_test=scores.get("base"), best_test=scores.get("best", scores.get("base")))

    def _node_dir(self, node_id: str) -> Path:
        return self.run_dir / "nodes" / node_id

    def _save(self) -> None:
        spent, self.tree.spent_s = self.tree.spent_s, self.elapsed_s()
        self.tree.save(self.run_dir / "tree.json")
        self.tree.spent_s = spent
