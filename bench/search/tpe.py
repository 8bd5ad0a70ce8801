"""Optuna TPE over the same spec space, as an outside reference.

Every trial is one simulated experiment trained from the base model (TPE has no tree, so no
warm start: init_from is always base). The space is the set the random proposer can reach:
the 10-point learning-rate grid, epochs 1..10, max_samples in {16, 32, ..., 32768, 50000},
any non-empty subset of kinds, both answer formats, LoRA rank in {1, 2, ..., 256}. Trials run
one at a time. Node 1 is the base model's evaluation, as in the tree search, so a budget of
n nodes gives TPE n - 1 trials; node i draws the same noise as node i of a tree run.
"""
from __future__ import annotations

import optuna

from bench.search.proposer import KINDS, baseline_spec
from bench.search.simulate import node_rng
from bench.search.surface import score
from trex.tree.records import LEARNING_RATES, AnswerFormat, DataRecipe, Direction, ExperimentSpec, InitFrom, TrainConfig

SAMPLES: tuple[int, ...] = (*(2 ** e for e in range(4, 16)), 50_000)


def spec_of(trial: optuna.Trial) -> ExperimentSpec:
    """The spec a trial asks for (integer indices keep the ordinal structure visible to TPE)."""
    lr = LEARNING_RATES[trial.suggest_int("lr_index", 0, len(LEARNING_RATES) - 1)]
    epochs = trial.suggest_int("epochs", 1, 10)
    samples = SAMPLES[trial.suggest_int("samples_index", 0, len(SAMPLES) - 1)]
    kinds = [k for k in KINDS if trial.suggest_categorical(f"kind_{k}", [True, False])]
    fmt = AnswerFormat(trial.suggest_categorical("answer_format", [f.value for f in AnswerFormat]))
    rank = 2 ** trial.suggest_int("log2_rank", 0, 8)
    return ExperimentSpec(
        objective="TPE trial", direction=Direction.LEARNING_RATE,
        data=DataRecipe(kinds=[] if len(kinds) in (0, len(KINDS)) else kinds, max_samples=samples,
                        answer_format=fmt),
        train=TrainConfig(learning_rate=lr, epochs=epochs, lora_r=rank, lora_alpha=min(512, 2 * rank),
                          init_from=InitFrom.BASE))


def run_tpe(seed: int, nodes: int, failed_value: float = 0.0) -> tuple[list[float], int]:
    """Best dev score after 1..nodes nodes (node 1: the base model) of one TPE run, and its failures.
    A failed trial is told `failed_value` (the tree search's failed reward)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = score(baseline_spec(), None, node_rng(seed, 0), train=False)
    best = [base.score or 0.0]
    failed = 0
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for i in range(1, nodes):
        trial = study.ask()
        outcome = score(spec_of(trial), None, node_rng(seed, i), train=True)
        study.tell(trial, outcome.score if outcome.score is not None else failed_value)
        failed += outcome.score is None
        best.append(max(best[-1], outcome.score) if outcome.score is not None else best[-1])
    return best, failed
