"""The model-based numeric sampler: Optuna's TPE, fitted on the tree's finished experiments.

Each call builds a fresh in-memory study from the tree (so it is as resumable as the tree):
one trial per finished non-root node (a failed one counts as score 0), and a RUNNING trial
per node still queued or running (the constant liar keeps parallel suggestions apart).
History is conditioned on the proposal's structure (data recipe, format, method, warm start)
once that structure has enough finished experiments; before that, all of them are used.
"""
from __future__ import annotations

import logging
import random
import warnings

import optuna
from optuna.trial import TrialState, create_trial

from trex.search.space import KNOBS, Params, Space, apply, describe, encode, structure_key
from trex.tree.records import Direction, ExperimentSpec, InitFrom, NodeStatus
from trex.tree.store import Tree

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)


class NumericSampler:
    def __init__(self, space: Space, *, startup: int = 4, min_history: int = 4, max_step: int | None = 1) -> None:
        self.space = space
        self.max_step = max_step          # a knob moves at most this many grid points from the parent (None: anywhere)
        self.startup = startup            # finished experiments before TPE replaces the prior / random draws
        self.min_history = min_history    # same-structure experiments before history is conditioned on it

    # -- what the tree has taught ------------------------------------------------------
    def observations(self, tree: Tree) -> list[tuple[Params, float, str]]:
        """(position, dev score, structure) of every finished experiment that trained."""
        out = []
        for node in tree:
            if node.parent_id is None or not node.done:
                continue
            score = node.score if node.status is NodeStatus.SUCCEEDED and node.score is not None else 0.0
            out.append((encode(node.spec, self.space), score, structure_key(node.spec)))
        return out

    def ready(self, tree: Tree) -> bool:
        """Enough finished experiments for the model to beat its prior."""
        return sum(1 for n in tree if n.parent_id is not None and n.done) >= self.startup

    def _study(self, tree: Tree, structure: str | None, fixed: Params, seed: int) -> optuna.Study:
        dists = self.space.all()
        seen = self.observations(tree)
        same = [o for o in seen if o[1] is not None and o[2] == structure]
        history = same if structure is not None and len(same) >= self.min_history else seen
        base = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.startup, multivariate=True,
                                          constant_liar=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.PartialFixedSampler(fixed, base) if fixed else base
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for params, score, _ in history:
            study.add_trial(create_trial(params=params, distributions=dists, value=score))
        for node in tree:
            if node.parent_id is not None and not node.done:
                study.add_trial(create_trial(params=encode(node.spec, self.space), distributions=dists,
                                             state=TrialState.RUNNING))
        return study

    # -- suggestions ---------------------------------------------------------------------
    def suggest(self, tree: Tree, spec: ExperimentSpec, knobs: set[str], seed: int) -> ExperimentSpec:
        """`spec` with `knobs` set by TPE; every other knob, and the structure, stay as they are."""
        if not knobs:
            return spec
        current = encode(spec, self.space)
        fixed = {k: v for k, v in current.items() if k not in knobs}
        trial = self._study(tree, structure_key(spec), fixed, seed).ask(self.space.all())
        return apply(spec, self._near(current, {k: trial.params[k] for k in knobs}), self.space)

    def propose(self, tree: Tree, parent_id: str, seed: int, numeric_only: bool = False) -> ExperimentSpec:
        """A child of `parent_id` chosen by the sampler alone: every numeric knob and, unless
        `numeric_only` (the Researcher owns structure), the answer format and whether to continue
        the parent's adapter (never from the root, which has none)."""
        parent = tree[parent_id]
        fixed: Params = {"init_from": InitFrom.BASE.value} if parent.parent_id is None else {}
        if numeric_only:
            fixed = {"init_from": InitFrom.BASE.value, "answer_format": parent.spec.data.answer_format.value}
        trial = self._study(tree, None, fixed, seed).ask(self.space.all())
        params = self._near(encode(parent.spec, self.space), dict(trial.params))
        spec = apply(parent.spec, params, self.space)
        return spec.model_copy(update={"objective": f"Sampler (TPE): {describe(params, self.space)}"[:400],
                                       "direction": direction_of(spec, parent.spec, self.space),
                                       "rationale": self.rationale(tree)})

    def _near(self, start: Params, params: Params) -> Params:
        """`params` with each numeric knob pulled to within max_step grid points of `start` (a trust
        region: TPE picks the direction, the step stays local, as a hill-climber's would)."""
        if self.max_step is None:
            return params
        return {k: (min(max(int(v), int(start[k]) - self.max_step), int(start[k]) + self.max_step)
                    if k in KNOBS else v) for k, v in params.items()}

    def neighbor(self, spec: ExperimentSpec, seed: int, objective: str = "") -> ExperimentSpec:
        """`spec` with one or two numeric knobs moved one grid point at random (when TPE keeps
        suggesting experiments that already exist)."""
        rng = random.Random(seed)
        start = encode(spec, self.space)
        dists = self.space.numeric()
        params: Params = {}
        for knob in rng.sample(KNOBS, rng.choice((1, 2))):
            low, high = dists[knob].low, dists[knob].high   # type: ignore[attr-defined]
            params[knob] = min(max(int(start[knob]) + rng.choice((-1, 1)), low), high)
        out = apply(spec, params, self.space)
        if objective:
            out = out.model_copy(update={"objective": f"{objective}: {describe(params, self.space)}"[:400],
                                         "direction": direction_of(out, spec, self.space)})
        return out

    def rationale(self, tree: Tree) -> str:
        n = len(self.observations(tree))
        return (f"Chosen by TPE from {n} finished experiment(s)." if n >= self.startup
                else f"Random draw: only {n} finished experiment(s), TPE starts at {self.startup}.")

    # -- what the Researcher is shown ---------------------------------------------------
    def summary(self, tree: Tree) -> str:
        """The best region and each knob's importance, in one paragraph for the prompt ('' early on)."""
        seen = self.observations(tree)
        if len(seen) < self.startup:
            return ""
        top = sorted(seen, key=lambda o: -o[1])[:max(2, len(seen) // 4)]
        region = []
        for knob in KNOBS:
            lo, hi = min(o[0][knob] for o in top), max(o[0][knob] for o in top)
            a, b = describe({knob: lo}, self.space), describe({knob: hi}, self.space).split(" ", 1)[1]
            region.append(a if lo == hi else f"{a}..{b}")
        lines = [f"The numeric sampler (TPE) has seen {len(seen)} finished experiments; "
                 f"the best ones used {', '.join(region)}."]
        if importance := self.importance(tree):
            lines.append("Knob importance: " + ", ".join(f"{k} {v:.2f}" for k, v in importance.items()) + ".")
        return " ".join(lines)

    def importance(self, tree: Tree) -> dict[str, float]:
        """PED-ANOVA importance of each numeric knob over the finished experiments ({} when unknown)."""
        seen = self.observations(tree)
        if len(seen) < max(self.startup, 5):
            return {}
        dists = self.space.numeric()
        study = optuna.create_study(direction="maximize")
        for params, score, _ in seen:
            study.add_trial(create_trial(params={k: params[k] for k in KNOBS}, distributions=dists, value=score))
        try:
            from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

            return dict(get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()))
        except (ValueError, RuntimeError, ZeroDivisionError) as err:   # e.g. every score equal
            log.debug("knob importance unavailable: %s", err)
            return {}


def direction_of(spec: ExperimentSpec, parent: ExperimentSpec, space: Space) -> Direction:
    """The Direction a sampler child takes (its largest kind of change)."""
    a, b = encode(spec, space), encode(parent, space)
    if spec.train.init_from is InitFrom.PARENT:
        return Direction.WARM_START
    if a["answer_format"] != b["answer_format"]:
        return Direction.ANSWER_FORMAT
    if a["learning_rate"] != b["learning_rate"]:
        return Direction.LEARNING_RATE
    if a["max_samples"] != b["max_samples"]:
        return Direction.MORE_DATA
    if a["lora_r"] != b["lora_r"]:
        return Direction.CAPACITY
    return Direction.TRAINING_LENGTH
