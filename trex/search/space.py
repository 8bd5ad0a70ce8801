"""The numeric search space: which knobs of an ExperimentSpec a model-based sampler sets, their
ranges, and the structural part of a spec the sampler's history is conditioned on. Pure.

Knobs are integer indices into grids (learning-rate grid, powers of two), so the ordinal
structure is visible to TPE and every value is one the spec accepts.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from trex.tree.records import LEARNING_RATES, AnswerFormat, ExperimentSpec, InitFrom

Params = dict[str, int | str]


@dataclass(frozen=True)
class Space:
    """Ranges of the sampled knobs. Defaults keep a CPU node to minutes; widen them on a cluster."""

    lr_min: float = 5e-5
    lr_max: float = 2e-3
    max_epochs: int = 3
    min_samples: int = 32
    max_samples: int = 512          # the run's limit on training examples (executor.max_train_samples)
    min_rank: int = 4
    max_rank: int = 64

    def lr_grid(self) -> tuple[float, ...]:
        return tuple(g for g in LEARNING_RATES if self.lr_min <= g <= self.lr_max)

    def sample_grid(self) -> tuple[int, ...]:
        grid = powers_of_two(self.min_samples, self.max_samples)
        return grid if grid and grid[-1] == self.max_samples else (*grid, self.max_samples)

    def rank_grid(self) -> tuple[int, ...]:
        return powers_of_two(self.min_rank, self.max_rank)

    def numeric(self) -> dict[str, BaseDistribution]:
        """The knobs the Researcher may ask the sampler to move, as Optuna distributions."""
        return {"learning_rate": IntDistribution(0, len(self.lr_grid()) - 1),
                "epochs": IntDistribution(1, self.max_epochs),
                "max_samples": IntDistribution(0, len(self.sample_grid()) - 1),
                "lora_r": IntDistribution(0, len(self.rank_grid()) - 1)}

    def structural(self) -> dict[str, BaseDistribution]:
        """Choices the sampler makes only when it proposes alone (no Researcher, or filling in)."""
        return {"answer_format": CategoricalDistribution([f.value for f in AnswerFormat]),
                "init_from": CategoricalDistribution([i.value for i in InitFrom])}

    def all(self) -> dict[str, BaseDistribution]:
        return {**self.numeric(), **self.structural()}


KNOBS = ("learning_rate", "epochs", "max_samples", "lora_r")


def powers_of_two(lo: int, hi: int) -> tuple[int, ...]:
    """1, 2, 4, ... restricted to [lo, hi]."""
    return tuple(2 ** e for e in range(hi.bit_length()) if lo <= 2 ** e <= hi)


def nearest(grid: tuple, value: float) -> int:
    return min(range(len(grid)), key=lambda i: (abs(grid[i] - value), i))


def encode(spec: ExperimentSpec, space: Space) -> Params:
    """A spec's position in the space (values off a grid go to the nearest point)."""
    t, d = spec.train, spec.data
    return {"learning_rate": nearest(space.lr_grid(), t.learning_rate),
            "epochs": min(max(t.epochs, 1), space.max_epochs),
            "max_samples": nearest(space.sample_grid(), d.max_samples),
            "lora_r": nearest(space.rank_grid(), t.lora_r),
            "answer_format": d.answer_format.value, "init_from": t.init_from.value}


def apply(spec: ExperimentSpec, params: Params, space: Space) -> ExperimentSpec:
    """`spec` with the given knobs set (knobs not in `params` keep their values)."""
    train: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if "learning_rate" in params:
        train["learning_rate"] = space.lr_grid()[int(params["learning_rate"])]
    if "epochs" in params:
        train["epochs"] = int(params["epochs"])
    if "lora_r" in params:
        rank = space.rank_grid()[int(params["lora_r"])]
        train.update(lora_r=rank, lora_alpha=min(512, 2 * rank))
    if "init_from" in params:
        train["init_from"] = InitFrom(cast(str, params["init_from"]))
    if "max_samples" in params:
        data["max_samples"] = space.sample_grid()[int(params["max_samples"])]
    if "answer_format" in params:
        data["answer_format"] = AnswerFormat(cast(str, params["answer_format"]))
    return spec.model_copy(update={"train": spec.train.model_copy(update=train),
                                   "data": spec.data.model_copy(update=data)})


def moved(spec: ExperimentSpec, parent: ExperimentSpec, space: Space) -> set[str]:
    """The numeric knobs a proposal changed relative to its parent."""
    a, b = encode(spec, space), encode(parent, space)
    return {k for k in KNOBS if a[k] != b[k]}


def structure_key(spec: ExperimentSpec) -> str:
    """What the spec does apart from its numeric knobs: sources, kinds, operators, format, method."""
    body = {"data": spec.data.model_dump(mode="json", exclude={"max_samples"}),
            "method": spec.train.method.value, "init_from": spec.train.init_from.value}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def describe(params: Params, space: Space) -> str:
    """Knob values in the units a person reads (lr 5e-04, epochs 2, ...)."""
    parts = []
    for knob in KNOBS:
        if knob not in params:
            continue
        i = int(params[knob])
        # B023: the chosen lambda is called at once, in this iteration, so the late binding of i is harmless
        value = {"learning_rate": lambda: f"{space.lr_grid()[i]:g}", "epochs": lambda: str(i),  # noqa: B023
                 "max_samples": lambda: str(space.sample_grid()[i]),  # noqa: B023
                 "lora_r": lambda: str(space.rank_grid()[i])}[knob]()  # noqa: B023
        parts.append(f"{knob} {value}")
    return ", ".join(parts)
