"""Children for a selected node: the Researcher decides what to change, the numeric sampler
decides the numbers (researcher.numeric):

- llm: the Researcher's specs as they are (a weak LLM can leave slots empty);
- sampler: the sampler alone, one child per expansion (no LLM: TPE through the tree);
- hybrid: the Researcher's specs, with the numeric knobs it chose to move set by TPE once
  enough experiments have finished (its own values are the start point until then), plus
  `sampler_children` of the sampler's own per expansion once it is ready; the Researcher's
  duplicates are repaired by the sampler, and every child it failed to give is filled by one.
  (On bench/search's tuning seeds 0-9, moved-knobs-only plus one sampler child beat letting
  TPE re-draw every knob, and a trust region of one grid point per knob (NumericSampler.max_step)
  beat 2, 3 and none: far draws fail or time out.)
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ValidationError

from trex.search.contracts import Proposal, ProposalFailed, Proposer
from trex.search.cost import NodeCost, fit_to_time, learned_cost
from trex.search.sampler import NumericSampler
from trex.search.space import KNOBS, moved
from trex.tree.describe import spec_key
from trex.tree.records import ExperimentSpec, LLMUsage
from trex.tree.store import Tree

log = logging.getLogger(__name__)
ATTEMPTS = 12    # draws tried before giving up on a new, valid child
TPE_TRIES = 4    # of which from TPE; it repeats itself once its model is confident, so the rest are random neighbours


class Numeric(StrEnum):
    LLM = "llm"
    SAMPLER = "sampler"
    HYBRID = "hybrid"


class Origin(StrEnum):
    """Who chose a node's spec (kept on the node, shown in reports)."""

    ROOT = "root"
    LLM = "llm"               # the Researcher's spec as it proposed it
    HYBRID = "hybrid"         # the Researcher's change, numbers from the sampler
    REPAIRED = "repaired"     # the Researcher repeated an experiment; the sampler moved its numbers
    SAMPLER = "sampler"       # the sampler alone (sampler mode, or a slot the Researcher left empty)


@dataclass(frozen=True)
class Planned:
    children: list[tuple[ExperimentSpec, Origin]] = field(default_factory=list)
    usage: LLMUsage = LLMUsage()
    llm_error: str = ""        # the LLM endpoint failed on this call ('' if it answered or was not asked)
    rejected: int = 0          # the Researcher's proposals dropped as invalid or repeated
    too_late: float | None = None   # seconds left when every child was dropped for lack of time


class Planner:
    def __init__(self, numeric: Numeric, proposer: Proposer | None, sampler: NumericSampler, k: int,
                 max_samples: int | None = None, *, sampler_children: int = 1) -> None:
        # hybrid, once TPE is ready: children per expansion it proposes alone
        self.sampler_children = sampler_children
        self.work_share = 1.0     # share of a child's training its first job runs (set by the Search: asha's rung 0)
        if numeric is not Numeric.SAMPLER and proposer is None:
            raise ValueError(f"researcher.numeric={numeric.value} needs a Researcher")
        self.numeric, self.proposer, self.sampler, self.k = numeric, proposer, sampler, k
        self.max_samples = max_samples

    def plan(self, tree: Tree, target: str, room: int, seed: int,
             seconds_left: Callable[[], float] | None = None) -> Planned:
        """Up to `room` new children of `target`, each trimmed to finish in the seconds left (asked
        after the Researcher has answered) once node times are known; a child that cannot finish
        in time even at its smallest is dropped. Raises ProposalFailed only in llm mode."""
        planned = self._plan(tree, target, room, seed)
        if seconds_left is None:
            return planned
        cost, left, timed = learned_cost(tree), seconds_left(), True
        if cost is None:    # no node time known yet: no child may train longer than the root's template
            timed = False
            cost, left = NodeCost(overhead_s=0.0, pass_s=1.0), float(tree.root.spec.data.max_samples
                                                                     * tree.root.spec.train.epochs)
        known = {spec_key(n.spec, n.parent_id) for n in tree}
        kept: list[tuple[ExperimentSpec, Origin]] = []
        for spec, origin in planned.children:
            fitted = fit_to_time(spec, left, cost, share=self.work_share)
            if fitted is None:
                log.info("%s: a child dropped: even its smallest version would not finish in the %.0f s left",
                         target, left)
                continue
            if fitted is not spec:
                log.info("%s: a child trimmed to %d epoch(s) x %d examples to finish in the %.0f s left",
                         target, fitted.train.epochs, fitted.data.max_samples, left)
            if spec_key(fitted, target) not in known:
                kept.append((fitted, origin))
                known.add(spec_key(fitted, target))
        too_late = left if timed and planned.children and not kept else None
        return Planned(kept, planned.usage, planned.llm_error, planned.rejected, too_late)

    def _plan(self, tree: Tree, target: str, room: int, seed: int) -> Planned:
        want = min(room, 1 if self.numeric is Numeric.SAMPLER else self.k)
        known = {spec_key(n.spec, n.parent_id) for n in tree}
        children: list[tuple[ExperimentSpec, Origin]] = []
        usage, error, rejected = LLMUsage(), "", 0
        if self.numeric is not Numeric.SAMPLER:
            assert self.proposer is not None
            hint = self.sampler.summary(tree) if self.numeric is Numeric.HYBRID else ""
            try:
                proposal = self.proposer.propose(tree, target, seed, hint)
            except ProposalFailed as err:
                if self.numeric is Numeric.LLM:
                    raise
                proposal, error = Proposal(specs=[]), str(err)
            usage, rejected = proposal.usage, len(proposal.rejected)
            llm_want = want - (self.sampler_children if self.numeric is Numeric.HYBRID and self.sampler.ready(tree)
                               else 0)
            for spec in proposal.specs[:max(llm_want, 0)]:
                children.append(self._tuned(tree, target, spec, known, seed + len(children))
                                if self.numeric is Numeric.HYBRID else (spec, Origin.LLM))
                known.add(spec_key(children[-1][0], target))
            if self.numeric is Numeric.HYBRID:
                for spec in proposal.duplicates[:want - len(children)]:
                    if (fixed := self._repaired(tree, target, spec, known, seed + 17 * len(children))) is not None:
                        children.append((fixed, Origin.REPAIRED))
                        known.add(spec_key(fixed, target))
        if self.numeric is not Numeric.LLM and len(children) < want:
            why = (f"the Researcher failed ({error[:120]})" if error
                   else "sampler mode" if self.numeric is Numeric.SAMPLER
                   else f"the Researcher gave {len(children)} of {want}")
            while len(children) < want and (drawn := self._drawn(tree, target, known, seed + 31 * len(children))):
                children.append((drawn, Origin.SAMPLER))
                known.add(spec_key(drawn, target))
            log.info("%s: %d child(ren) from the sampler (%s)", target,
                     sum(o is Origin.SAMPLER for _, o in children), why)
        return Planned(children, usage, error, rejected)

    # -- the sampler's parts ---------------------------------------------------------
    def _tuned(self, tree: Tree, target: str, spec: ExperimentSpec, known: set[str],
               seed: int) -> tuple[ExperimentSpec, Origin]:
        """The Researcher's spec with the knobs it moved re-drawn by TPE (once TPE has data)."""
        knobs = moved(spec, tree[target].spec, self.sampler.space)
        if not knobs or not self.sampler.ready(tree):
            return spec, Origin.LLM
        for attempt in range(ATTEMPTS):
            tuned = self._valid(self.sampler.suggest(tree, spec, knobs, seed + attempt))
            if tuned is not None and spec_key(tuned, target) not in known:
                return tuned, Origin.HYBRID
        return spec, Origin.LLM

    def _repaired(self, tree: Tree, target: str, spec: ExperimentSpec, known: set[str],
                  seed: int) -> ExperimentSpec | None:
        knobs = moved(spec, tree[target].spec, self.sampler.space) or set(KNOBS)
        for attempt in range(ATTEMPTS):
            fixed = self._valid(self.sampler.suggest(tree, spec, knobs, seed + attempt) if attempt < TPE_TRIES
                                else self.sampler.neighbor(spec, seed + attempt))
            if fixed is not None and spec_key(fixed, target) not in known:
                return fixed
        return None

    def _drawn(self, tree: Tree, target: str, known: set[str], seed: int) -> ExperimentSpec | None:
        # In hybrid mode structure is the Researcher's until TPE has data to choose it (random
        # structural draws, e.g. direct answers, cost whole nodes on a small budget).
        numeric_only = self.numeric is Numeric.HYBRID and not self.sampler.ready(tree)
        for attempt in range(ATTEMPTS):
            drawn = (self.sampler.propose(tree, target, seed + attempt, numeric_only=numeric_only)
                     if attempt < TPE_TRIES else self.sampler.neighbor(tree[target].spec, seed + attempt,
                                                                       objective="Sampler: a random neighbour"))
            spec = self._valid(drawn)
            if spec is not None and spec_key(spec, target) not in known:
                return spec
        log.warning("the sampler found no new experiment below %s in %d draws", target, ATTEMPTS)
        return None

    def _valid(self, spec: ExperimentSpec) -> ExperimentSpec | None:
        """The spec re-validated as a proposal (a sampler's values must obey the same contract)."""
        try:
            return ExperimentSpec.model_validate(spec.model_dump(mode="json"),
                                                 context={"proposal": True, "max_samples": self.max_samples})
        except ValidationError as err:
            log.warning("sampler produced an invalid spec (dropped): %s", err.errors()[:2])
            return None
