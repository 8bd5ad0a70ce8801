"""The one search loop: asks the core for jobs while executors are free, waits for any job to
end, tells the core, fails jobs past their timeout, and keeps doing so through the final test
pass. The pool is Ray's (trex.execute.pool) in trex and a simulated one in bench/search."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trex.search.contracts import Handle, Job, Pool
from trex.search.core import Outcome, Search
from trex.tree.records import Cost, NodeStatus, RunResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """Seconds a job may run before it is FAILED and its executor killed and replaced."""

    train_s: float = 3600.0    # a node that trains (executor.node_timeout_s)
    eval_s: float = 1800.0     # an evaluation-only job: the root, the final test pass (executor.eval_timeout_s)

    def of(self, job: Job) -> float:
        return self.train_s if job.train else self.eval_s


class SearchInterrupted(Exception):
    """Ctrl-C: running nodes were marked for re-queue and the tree saved; resume continues it."""

    def __init__(self, run_dir: Path | None, requeued: list[str]) -> None:
        super().__init__(f"interrupted; {len(requeued)} running node(s) re-queued")
        self.run_dir, self.requeued = run_dir, requeued


@dataclass
class Running:
    job: Job
    deadline: float
    limit_s: float


class Loop:
    def __init__(self, search: Search, pool: Pool, *, timeouts: Timeouts = Timeouts(),
                 wait_for_resources_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 poll_s: float = 1.0, on_change: Callable[[], None] | None = None, rounds: bool = False) -> None:
        self.search, self.pool, self.timeouts, self.clock = search, pool, timeouts, clock
        self.wait_for_resources_s, self.poll_s, self.on_change = wait_for_resources_s, poll_s, on_change
        self.rounds = rounds      # ask only when nothing runs (synchronous rounds; a benchmark's comparison)
        self.in_flight: dict[Handle, Running] = {}

    def run(self) -> Outcome:
        """Run the search to its end (final test pass included) and return its outcome."""
        try:
            self._loop()
        except KeyboardInterrupt:
            raise SearchInterrupted(self.search.run_dir, self._interrupt()) from None
        return self.search.finish()

    def _loop(self) -> None:
        search = self.search
        search.start()
        while not search.done:
            idle_and_free = False     # a slot was free and the search had nothing to start
            if not (self.rounds and self.in_flight):
                idle_and_free = self._fill()
            search.poll()
            if search.cancel_requested:
                self._cancel_all(search.stop_reason)
                continue
            if not self.in_flight:
                if search.done:
                    break
                if idle_and_free:
                    raise RuntimeError("the search asked for nothing while idle and not done (a bug)")
                if self.pool.free:      # an executor was placed since (an autoscaling cluster): fill it
                    continue
                if not self.pool.wait_for_room(self.wait_for_resources_s):
                    search.give_up(f"no executor could be placed for {self.wait_for_resources_s:.0f} s "
                                   "(the cluster lost nodes or is full)")
                continue
            for handle in self.pool.wait(list(self.in_flight), self.poll_s):
                self._collect(handle)
            self._expire_overdue()
            if self.on_change is not None:
                self.on_change()

    def _fill(self) -> bool:
        """Submit jobs while executors are free; before each, tell the pool how many executors the
        search can still use (after the budget it releases the rest, so the cluster can scale down).
        True if it stopped with an executor free because the search had nothing to start."""
        while True:
            self.pool.limit(self.search.slots_wanted)
            if not self.pool.free:
                return False
            if (job := self.search.ask()) is None:
                return True
            self._submit(job)

    def _submit(self, job: Job) -> None:
        limit = self.timeouts.of(job)
        self.in_flight[self.pool.submit(job)] = Running(job, self.clock() + limit, limit)

    def _collect(self, handle: Handle) -> None:
        running = self.in_flight.pop(handle)
        result, died = self.pool.result(handle)
        self.pool.release(handle, actor_died=died)
        self.search.tell(running.job, result, lost=died)

    def _expire_overdue(self) -> None:
        """FAIL every job past its timeout; its (hung) executor is killed and later replaced."""
        now = self.clock()
        for handle, running in list(self.in_flight.items()):
            if now <= running.deadline:
                continue
            del self.in_flight[handle]
            self.pool.release(handle, actor_died=True)
            log.warning("%s timed out after %.0f s; its executor was killed", running.job.node_id, running.limit_s)
            self.search.tell(running.job, RunResult(
                status=NodeStatus.FAILED, cost=Cost(total_s=running.limit_s),
                error=f"timed out after {running.limit_s:.0f} s (executor.node_timeout_s / eval_timeout_s); "
                      "its executor was killed and replaced"))

    def _cancel_all(self, reason: str) -> None:
        for handle, running in list(self.in_flight.items()):
            del self.in_flight[handle]
            self.pool.release(handle, actor_died=True)   # kills the actor mid-task; a fresh one replaces it
            self.search.tell(running.job, RunResult(status=NodeStatus.FAILED, error=f"cancelled: {reason}"))

    def _interrupt(self) -> list[str]:
        """Stop every running job; running nodes go back to the queue, so a resume runs them again."""
        for handle in list(self.in_flight):
            del self.in_flight[handle]
            self.pool.release(handle, actor_died=True)
        nodes = self.search.interrupt()
        log.warning("interrupted: %d running node(s) marked for re-queue: %s", len(nodes), ", ".join(nodes))
        return nodes
