"""The asynchronous search loop: the only writer of the tree and the only place that waits
on Ray futures. Keeps every executor slot busy; persists the tree after every change."""
from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import ray

from ftbench.base import Split
from trex.agent.researcher import Researcher
from trex.config import SearchConfig
from trex.execute.executor import Job
from trex.execute.pool import ExecutorPool
from trex.progress import Progress
from trex.track.base import Tracker
from trex.track.report import FinalScores, render_summary
from trex.tree.policy import normalize_reward, select_uct
from trex.tree.records import DataRecipe, Direction, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree, write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    tree: Tree
    final: FinalScores
    stop_reason: str
    wall_s: float


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
                 max_train_samples: int | None = None) -> None:
        self.search, self.run_dir, self.metric = search, run_dir, task_metric
        self.researcher, self.pool, self.tracker = researcher, pool, tracker
        self.reference = reference_score
        self.max_train_samples = max_train_samples
        self.tree = Tree(task=run_dir.name)
        self.group = run_dir.name
        self.queue: deque[str] = deque()
        self.in_flight: dict[ray.ObjectRef, str] = {}
        self.started = time.monotonic()
        self.empty_proposals = 0
        self.expansions = 0

    # -- the loop ------------------------------------------------------------------
    def run(self) -> Outcome:
        root = self.tree.add(baseline_spec(self.max_train_samples), None, time.time())
        self._node_dir(root.id).mkdir(parents=True, exist_ok=True)
        write_json(self._node_dir(root.id) / "spec.json", root.spec.model_dump(mode="json"))
        self.queue.append(root.id)
        self._save()
        stop_reason = ""
        with Progress(self.search.max_nodes) as progress:
            while True:
                stop_reason = stop_reason or self._budget_spent()
                if not stop_reason:
                    stop_reason = self._fill_slots()
                progress.update(self.tree)
                if not self.in_flight:
                    if stop_reason or not (self.queue or self._can_expand()):
                        break
                    continue
                ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=1.0)
                for ref in ready:
                    self._collect(ref)
                progress.update(self.tree)
        stop_reason = stop_reason or "nothing left to expand"
        final = self._final_test()
        wall = time.monotonic() - self.started
        summary = render_summary(self.tree, self.metric, final, stop_reason, wall)
        (self.run_dir / "summary.md").write_text(summary)
        write_json(self.run_dir / "final.json", {"stop_reason": stop_reason, "wall_s": wall,
                                                 "base_test": final.base_test, "best_test": final.best_test,
                                                 "best_node": (self.tree.best() or self.tree.root).id})
        self.tracker.finish()
        return Outcome(self.tree, final, stop_reason, wall)

    def _budget_spent(self) -> str:
        if len(self.tree) >= self.search.max_nodes and not self.queue:
            return f"max_nodes={self.search.max_nodes} reached"
        if (time.monotonic() - self.started) / 60 >= self.search.max_minutes:
            return f"max_minutes={self.search.max_minutes:g} reached"
        return ""

    def _can_expand(self) -> bool:
        return len(self.tree) < self.search.max_nodes and self.empty_proposals < self.search.max_failed_expansions

    def _fill_slots(self) -> str:
        """Submit queued nodes to free executors, expanding the tree when the queue is empty."""
        while self.pool.free:
            if not self.queue:
                if not self._can_expand():
                    return "" if self.empty_proposals < self.search.max_failed_expansions else \
                        f"the Researcher produced no valid proposal {self.search.max_failed_expansions} times in a row"
                if not self._expand():
                    return ""
                continue
            self._submit(self.queue.popleft())
        return ""

    def _expand(self) -> bool:
        """Ask the Researcher for children of the UCT-selected node; False if none can be chosen now."""
        s = self.search
        self.expansions += 1
        seed = s.seed * 100_003 + self.expansions   # a new seed for every Researcher call
        target = select_uct(self.tree, s.exploration, s.max_children, seed=seed)
        if target is None:
            return False
        room = min(s.max_nodes - len(self.tree), s.max_children - len(self.tree.children(target)))
        proposal = self.researcher.propose(self.tree, target, seed=seed)
        self.tree.add_usage(proposal.usage)
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
                  seed=self.search.seed + int(node_id[1:]), train=parent is not None,
                  parent_adapter=parent.result.adapter_path if parent and parent.result else None)
        self.in_flight[self.pool.submit(job)] = node_id
        self.tree.mark_running(node_id, time.time())
        self._save()

    def _collect(self, ref: ray.ObjectRef) -> None:
        node_id = self.in_flight.pop(ref)
        result, died = self._result_of(ref, node_id)
        self.pool.release(ref, actor_died=died)
        base = self.tree.root.score if node_id != self.tree.root.id else None
        reward = normalize_reward(result.score, 0.0, 1.0, base=base, reference=self.reference)
        node = self.tree.record(node_id, result, reward, time.time())
        write_json(self._node_dir(node_id) / "result.json", result.model_dump(mode="json"))
        self._save()
        log.info("%s %s: dev %s=%s (%.0fs)", node_id, result.status.value, self.metric,
                 "-" if result.score is None else f"{result.score:.3f}", result.cost.total_s)
        self.tracker.log_node(node, self.group)

    @staticmethod
    def _result_of(ref: ray.ObjectRef, node_id: str) -> tuple[RunResult, bool]:
        try:
            return ray.get(ref), False
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
            return RunResult(status=NodeStatus.FAILED, error=f"executor died: {err}"[:3000]), True
        except ray.exceptions.RayTaskError as err:
            return RunResult(status=NodeStatus.FAILED, error=f"executor error: {err}"[:3000]), False

    # -- the end ---------------------------------------------------------------------
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
        refs = {name: self.pool.submit(job) for name, job in jobs.items()}
        scores: dict[str, float | None] = {}
        for name, ref in refs.items():
            result, died = self._result_of(ref, jobs[name].node_id)
            self.pool.release(ref, actor_died=died)
            scores[name] = result.score
            write_json(self._node_dir(jobs[name].node_id) / "result-test.json", result.model_dump(mode="json"))
        base_test = scores.get("base")
        return FinalScores(base_test=base_test, best_test=scores.get("best", base_test))

    def _node_dir(self, node_id: str) -> Path:
        return self.run_dir / "nodes" / node_id

    def _save(self) -> None:
        self.tree.save(self.run_dir / "tree.json")
