"""A simulated executor: a response surface over `ExperimentSpec`, deterministic given an rng.

The dev score is a weighted mix over the four problem kinds (add, subtract, multiply,
two_step; equal weights). Each kind k has a base-model score b_k and a ceiling c_k that
depends on the answer format (reasoning lifts the hard kinds most). Training moves a kind
from b_k towards c_k by progress p_k = 1 - exp(-E_k), where the "effective learning" is

    E_k = 0.55 * D_k * epochs**0.6 * g(lr) * cap(r) / difficulty_k  (+ 0.8 * E_k of the parent
                                                                     when init_from=parent)

- data size: D_k = log(1 + n_k / 64), n_k the samples of kind k (diminishing returns);
- data mix: `kinds` splits max_samples evenly over the kinds named ([] = all four); a kind
  left out gets only 10% transfer from the others, so a subset helps just those kinds;
- learning rate: g is a Gaussian bump in log10(lr) around lr* = 3e-4 * epochs**-0.35 * (r/16)**-0.15
  (the optimum shifts down with more epochs and a larger LoRA rank); width 0.45 decades
  below lr*, 0.6 above; above lr* + 0.2 decades the run also forgets (score shrinks,
  can fall below the base model);
- epochs: gains grow as epochs**0.6 while overfitting eats a share of the gain,
  0.012 * (epochs - 1)**1.3 * (1 + 2 * 512 / (n + 512)) * (r/16)**0.1, worse on small data;
- LoRA rank: mild, cap(r) = clip(1 + 0.04 * log2(r / 16), 0.85, 1.15);
- warm start (init_from=parent): 80% of the parent's E carries over (35% across a change
  of answer format), with 80% of its overfitting and half its forgetting: good branches
  compound, and a chain of warm starts can train longer than one node's time limit allows;
- noise: Gaussian, sd 0.015, on the final score (clipped to [0, 1]); sd 0.015 / sqrt(f) when
  scored on a share f of the dev split.

Partial training (search.fidelity=asha): a job that has trained a share s of its spec's
examples x epochs scores as if it had trained s x epochs epochs (effective learning grows as
(s x epochs)**0.6, overfitting as (s x epochs - 1)**1.3); a promotion continuing from its own
adapter ends where the whole run would (the surface has no path dependence within a node).

Failures: lr=2e-3 with epochs >= 4, or lr=1e-3 with epochs >= 8, diverges (fails at ~40% of
its duration); a run longer than the 3,600 s limit times out (fails at 3,600 s); 1% of runs
fail for infrastructure reasons. Duration: evaluation overhead (60 s direct, 150 s reasoning)
plus samples * epochs * (0.04 s direct | 0.12 s reasoning) * (1 + r/512), log-normal jitter
sd 0.15 — so durations are uneven across specs (from ~1 minute to the one-hour limit).

Calibration (noiseless): base model 0.21; the root's default spec trained once 0.29;
8192 reasoning samples x 3 epochs at lr 2e-4 ~0.79 (3,200 s); the same at 2048 samples
and lr 2e-3 ~0.16 (below the base model).
The constants were fixed for plausibility before any policy was compared on it.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from trex.tree.records import AnswerFormat, ExperimentSpec, InitFrom

KINDS: tuple[str, ...] = ("add", "subtract", "multiply", "two_step")
WEIGHTS: dict[str, float] = {k: 0.25 for k in KINDS}
BASE: dict[str, float] = {"add": 0.35, "subtract": 0.30, "multiply": 0.12, "two_step": 0.06}
CEILING: dict[AnswerFormat, dict[str, float]] = {
    AnswerFormat.REASONING: {"add": 0.97, "subtract": 0.95, "multiply": 0.85, "two_step": 0.78},
    AnswerFormat.DIRECT: {"add": 0.95, "subtract": 0.92, "multiply": 0.62, "two_step": 0.40},
}
DIFFICULTY: dict[str, float] = {"add": 1.0, "subtract": 1.2, "multiply": 2.0, "two_step": 2.6}

NOISE_SD = 0.015
TIME_LIMIT_S = 3600.0
INFRA_FAILURE_P = 0.01
INHERIT_SAME_FORMAT = 0.8
INHERIT_OTHER_FORMAT = 0.35


@dataclass(frozen=True)
class Adapter:
    """The hidden state of a trained node: what a warm-started child inherits."""

    fmt: AnswerFormat
    effect: tuple[float, ...]     # E_k per kind, in KINDS order
    overfit: float                # share of the gain lost to overfitting
    damage: float                 # share of the score lost to a too-high learning rate


@dataclass(frozen=True)
class Outcome:
    """One simulated experiment: score None means FAILED (see `error`)."""

    score: float | None
    duration_s: float
    adapter: Adapter | None
    true_score: float | None = None   # noiseless score, for diagnostics
    error: str | None = None


def optimal_lr(epochs: int, lora_r: int) -> float:
    """lr* of the surface: shifts down with more epochs and a larger rank."""
    return 3e-4 * epochs ** -0.35 * (lora_r / 16) ** -0.15


def lr_fit(lr: float, epochs: int, lora_r: int) -> tuple[float, float]:
    """(learning multiplier g in (0, 1], forgetting share per unit of training)."""
    x = math.log10(lr) - math.log10(optimal_lr(epochs, lora_r))
    width = 0.45 if x < 0 else 0.6
    g = math.exp(-0.5 * (x / width) ** 2)
    forget = 0.5 * max(0.0, x - 0.2) ** 2
    return g, forget


def duration(spec: ExperimentSpec, train: bool, share: float = 1.0, dev_fraction: float = 1.0) -> float:
    """Noiseless seconds of one job: evaluation (of `dev_fraction` of dev) plus training (`share`
    of the spec's examples x epochs)."""
    reasoning = spec.data.answer_format is AnswerFormat.REASONING
    eval_s = (150.0 if reasoning else 60.0) * dev_fraction
    if not train:
        return eval_s
    per_sample = (0.12 if reasoning else 0.04) * (1 + spec.train.lora_r / 512)
    return eval_s + spec.data.max_samples * spec.train.epochs * per_sample * share


def mix_score(fmt: AnswerFormat, effect: tuple[float, ...], overfit: float, damage: float) -> float:
    """Noiseless dev score of an adapter."""
    total = 0.0
    for k, e in zip(KINDS, effect, strict=True):
        gain = (CEILING[fmt][k] - BASE[k]) * (1 - math.exp(-e)) * (1 - min(overfit, 1.0))
        total += WEIGHTS[k] * (BASE[k] + gain) * (1 - min(damage, 1.0))
    return total


def base_score() -> float:
    """Noiseless dev score of the untrained base model."""
    return sum(WEIGHTS[k] * BASE[k] for k in KINDS)


def train_adapter(spec: ExperimentSpec, parent: Adapter | None, fidelity: float = 1.0) -> Adapter:
    """The noiseless adapter a spec produces (warm-started from `parent` when asked), after
    `fidelity` of its training."""
    d, t = spec.data, spec.train
    used = list(d.kinds) or list(KINDS)
    per_kind = d.max_samples / len(used)
    seen = [math.log1p(per_kind / 64)]
    data = [seen[0] if k in used else 0.10 * seen[0] for k in KINDS]
    g, forget = lr_fit(t.learning_rate, t.epochs, t.lora_r)
    cap = min(1.15, max(0.85, 1 + 0.04 * math.log2(t.lora_r / 16)))
    epochs = t.epochs * fidelity
    ep = epochs ** 0.6
    effect = [0.55 * data[i] * ep * g * cap / DIFFICULTY[k] for i, k in enumerate(KINDS)]
    overfit = 0.012 * max(0.0, epochs - 1) ** 1.3 * (1 + 2 * 512 / (d.max_samples + 512)) * (t.lora_r / 16) ** 0.1
    damage = min(0.9, forget * ep)
    if parent is not None and t.init_from is InitFrom.PARENT:
        keep = INHERIT_SAME_FORMAT if parent.fmt is d.answer_format else INHERIT_OTHER_FORMAT
        effect = [e + keep * pe for e, pe in zip(effect, parent.effect, strict=True)]
        overfit += 0.8 * parent.overfit
        damage += 0.5 * parent.damage
    return Adapter(d.answer_format, tuple(effect), overfit, damage)


def diverges(spec: ExperimentSpec) -> bool:
    lr, epochs = spec.train.learning_rate, spec.train.epochs
    return (lr >= 2e-3 - 1e-12 and epochs >= 4) or (lr >= 1e-3 - 1e-12 and epochs >= 8)


def score(spec: ExperimentSpec, parent: Adapter | None, rng: random.Random, train: bool = True,
          segment: tuple[float, float] = (0.0, 1.0), dev_fraction: float = 1.0) -> Outcome:
    """Run one simulated job. `train=False` evaluates the base model (the root); `segment`: the
    share of the spec's training this job runs (asha), scored on `dev_fraction` of dev."""
    seconds = duration(spec, train, segment[1] - segment[0], dev_fraction) * math.exp(rng.gauss(0.0, 0.15))
    noise = rng.gauss(0.0, NOISE_SD / dev_fraction ** 0.5)
    infra = rng.random() < INFRA_FAILURE_P
    if not train:
        true = base_score()
        return Outcome(min(1.0, max(0.0, true + noise)), seconds, None, true)
    if infra:
        return Outcome(None, seconds * rng.uniform(0.05, 0.5), None, error="executor lost (simulated)")
    if seconds > TIME_LIMIT_S:
        return Outcome(None, TIME_LIMIT_S, None, error=f"timed out after {TIME_LIMIT_S:.0f} s")
    if diverges(spec):
        return Outcome(None, seconds * 0.4, None, error="loss diverged (NaN) at step 40%")
    adapter = train_adapter(spec, parent, segment[1])
    true = mix_score(adapter.fmt, adapter.effect, adapter.overfit, adapter.damage)
    return Outcome(min(1.0, max(0.0, true + noise)), seconds, adapter, true)
