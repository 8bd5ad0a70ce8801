"""What the search core exchanges with the world, without importing any of it: the job it asks
to run, what a proposer returns, and the protocols of the proposer, the LLM server's health
and the executor pool (Ray in trex, a simulation in bench/search)."""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ftbench.base import Split
from trex.tree.records import Diagnosis, ExperimentSpec, LLMUsage, RunResult
from trex.tree.store import Tree


@dataclass(frozen=True)
class Job:
    node_id: str
    spec: ExperimentSpec
    node_dir: str
    seed: int
    train: bool = True                  # False: evaluate the base model (root) or `adapter`
    split: Split = Split.DEV
    adapter: str | None = None          # evaluate this adapter without training
    parent_adapter: str | None = None   # for train.init_from=parent
    data_seed: int = 0                  # one per run, so equal recipes hit the data cache
    parent_id: str | None = None
    rung: int = 0                               # search.fidelity=asha: > 0 continues this node's own adapter
    segment: tuple[float, float] = (0.0, 1.0)   # share of the spec's training stream this job runs
    dev_fraction: float = 1.0                   # share of the dev split to score


@dataclass(frozen=True)
class Proposal:
    specs: list[ExperimentSpec]
    rejected: list[str] = field(default_factory=list)          # one reason per dropped proposal
    usage: LLMUsage = LLMUsage()
    duplicates: list[ExperimentSpec] = field(default_factory=list)   # valid but already tried: repairable


@dataclass(frozen=True)
class Finished:
    """What the proposer made of a finished node."""

    diagnosis: Diagnosis | None = None
    usage: LLMUsage = LLMUsage()


class ProposalFailed(Exception):
    """The proposer's LLM endpoint did not answer (timeout, connection, server error)."""


class Proposer(Protocol):
    def start(self, root_id: str, seed: int) -> LLMUsage: ...

    def propose(self, tree: Tree, node_id: str, seed: int, hint: str = "") -> Proposal: ...

    def on_finished(self, tree: Tree, node_id: str, seed: int) -> Finished: ...


class LLMHealth(Protocol):
    """The supervisor of the agent LLM's server (trex.llm.supervisor.Supervisor)."""

    deaths: list[Any]

    @property
    def failure(self) -> str: ...

    def wait_up(self) -> bool: ...


Handle = Hashable


class Pool(Protocol):
    """Executors: submit a job, wait for any to finish, read and release it."""

    @property
    def free(self) -> int: ...

    @property
    def size(self) -> int: ...

    def submit(self, job: Job) -> Handle: ...

    def wait(self, handles: list[Handle], timeout_s: float) -> list[Handle]: ...

    def result(self, handle: Handle) -> tuple[RunResult, bool]:
        """The job's result, and whether its executor died (a lost node)."""
        ...

    def release(self, handle: Handle, actor_died: bool) -> Job: ...

    def wait_for_room(self, seconds: float) -> bool: ...

    def limit(self, wanted: int | None) -> None:
        """The search can use at most `wanted` executors now (None: as many as allowed)."""
        ...
