"""A proposer that needs no LLM: K random local edits of the parent's spec.

Each child changes one field (60%) or two (40%) of its parent: the learning rate by one grid
step, epochs by one, max_samples doubled or halved, one kind toggled in the data mix, the
answer format, the LoRA rank doubled or halved (alpha = 2r), or init_from toggled (not under
the root, which has no adapter). Specs that duplicate one already in the tree (same data and
training, and the same parent when warm-starting) or in the same batch are skipped.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from trex.search.core import baseline_spec as real_baseline_spec
from trex.tree.describe import spec_key
from trex.tree.records import LEARNING_RATES, AnswerFormat, Direction, ExperimentSpec, InitFrom
from trex.tree.store import Tree

KINDS: tuple[str, ...] = ("add", "subtract", "multiply", "two_step")
MAX_SAMPLES = 50_000
Edit = Callable[[ExperimentSpec, random.Random], ExperimentSpec | None]


def baseline_spec(max_samples: int | None = None) -> ExperimentSpec:
    """The root spec, as trex builds it."""
    return real_baseline_spec(max_samples)


def _with(spec: ExperimentSpec, data: dict | None = None, train: dict | None = None) -> ExperimentSpec:
    return spec.model_copy(update={"data": spec.data.model_copy(update=data or {}),
                                   "train": spec.train.model_copy(update=train or {})})


def edit_lr(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    i = min(range(len(LEARNING_RATES)), key=lambda j: abs(LEARNING_RATES[j] - spec.train.learning_rate))
    j = i + rng.choice((-1, 1))
    return _with(spec, train={"learning_rate": LEARNING_RATES[j]}) if 0 <= j < len(LEARNING_RATES) else None


def edit_epochs(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    e = spec.train.epochs + rng.choice((-1, 1))
    return _with(spec, train={"epochs": e}) if 1 <= e <= 10 else None


def edit_samples(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    n = spec.data.max_samples
    m = min(MAX_SAMPLES, n * 2) if rng.random() < 0.5 else max(16, n // 2)
    return _with(spec, data={"max_samples": m}) if m != n else None


def edit_kinds(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    kinds = set(spec.data.kinds or KINDS)
    kinds ^= {rng.choice(KINDS)}
    if not kinds:
        return None
    ordered = [] if len(kinds) == len(KINDS) else [k for k in KINDS if k in kinds]
    return _with(spec, data={"kinds": ordered})


def edit_format(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    fmt = AnswerFormat.DIRECT if spec.data.answer_format is AnswerFormat.REASONING else AnswerFormat.REASONING
    return _with(spec, data={"answer_format": fmt})


def edit_rank(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    r = spec.train.lora_r * 2 if rng.random() < 0.5 else spec.train.lora_r // 2
    return _with(spec, train={"lora_r": r, "lora_alpha": min(512, 2 * r)}) if 1 <= r <= 256 else None


def edit_init(spec: ExperimentSpec, rng: random.Random) -> ExperimentSpec | None:
    init = InitFrom.BASE if spec.train.init_from is InitFrom.PARENT else InitFrom.PARENT
    return _with(spec, train={"init_from": init})


EDITS: dict[Direction, Edit] = {
    Direction.LEARNING_RATE: edit_lr, Direction.TRAINING_LENGTH: edit_epochs, Direction.MORE_DATA: edit_samples,
    Direction.DATA_SELECTION: edit_kinds, Direction.ANSWER_FORMAT: edit_format, Direction.CAPACITY: edit_rank,
    Direction.WARM_START: edit_init,
}


def perturb(parent: ExperimentSpec, rng: random.Random, is_root: bool) -> ExperimentSpec | None:
    """One child: 1 or 2 distinct edits of `parent`, or None if an edit fell off the space."""
    directions = [d for d in EDITS if not (is_root and d is Direction.WARM_START)]
    chosen = rng.sample(directions, 1 if rng.random() < 0.6 else 2)
    spec = parent.model_copy(update={"train": parent.train.model_copy(update={"init_from": (
        InitFrom.BASE if is_root else parent.train.init_from)})})
    for direction in chosen:
        edited = EDITS[direction](spec, rng)
        if edited is None:
            return None
        spec = edited
    summary = ", ".join(d.value for d in chosen)
    return spec.model_copy(update={"direction": chosen[0], "objective": f"Perturb the parent: {summary}.",
                                   "rationale": "random local edit (simulated proposer)"})


def known_keys(tree: Tree) -> set[str]:
    return {spec_key(n.spec, n.parent_id) for n in tree}


def propose(tree: Tree, node_id: str, k: int, seed: int, known: Iterable[str] | None = None,
            tries: int = 40) -> list[ExperimentSpec]:
    """Up to `k` new children of `node_id`, none duplicating a spec already in the tree."""
    rng = random.Random(seed)
    node = tree[node_id]
    seen = set(known_keys(tree) if known is None else known)
    out: list[ExperimentSpec] = []
    for _ in range(tries):
        if len(out) >= k:
            break
        spec = perturb(node.spec, rng, is_root=node.parent_id is None)
        if spec is None:
            continue
        key = spec_key(spec, node_id)
        if key not in seen:
            seen.add(key)
            out.append(spec)
    return out
