"""Prompts that ask the Researcher for child experiments of one node."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from trex.tree.describe import spec_line
from trex.tree.records import LEARNING_RATES, Direction, Node

SYSTEM = (
    "You are a careful ML engineer who fine-tunes small language models. You plan the next "
    "experiments of a search tree: each one changes a few settings of a parent experiment "
    "and says why. Reply with JSON only."
)


@dataclass(frozen=True)
class TaskCard:
    """What the Researcher is told about the task (never any test data)."""

    name: str
    metric: str
    description: str
    kinds: tuple[str, ...]
    base_model: str
    max_train_samples: int = 50_000


def node_line(node: Node, metric: str) -> str:
    outcome = (f"dev {metric}={node.score:.3f}" if node.score is not None
               else (node.result.error or "failed").splitlines()[-1][:160] if node.result
               else node.status.value.lower())
    return f"- {node.id}: {spec_line(node.spec)} -> {outcome}"


def render_propose(card: TaskCard, memory: str, parent: Node, children: list[Node],
                   k: int, extras: Sequence[str] = ()) -> list[dict[str, str]]:
    """Messages asking for `k` children of `parent`; `memory` is the rendered tree context ('' when
    memory is off) and `extras` the brief / insights / research-note lines."""
    t = parent.spec.train
    example = parent.spec.model_copy(update={
        "objective": "Change the step size and train one more epoch.",
        "direction": Direction.LEARNING_RATE,
        "rationale": "The step size sets how fast the adapter fits; more passes help if it underfits.",
        "train": t.model_copy(update={"learning_rate": 5e-4 if t.learning_rate < 5e-4 else 1e-4,
                                      "epochs": min(t.epochs + 1, 3)})})
    parts = [
        f"Task: {card.name}. Metric: {card.metric} on the dev split (higher is better). "
        f"Model being fine-tuned: {card.base_model} with LoRA.",
        card.description.strip(),
        *extras,
    ]
    if memory:
        parts += [f"What the search has tried so far (you refine {parent.id}, the last step of the trajectory):",
                  memory]
    if children:
        parts += ["Already planned from it (do not repeat):", *[node_line(n, card.metric) for n in children]]
    parts += [
        f"Propose exactly {k} new experiments that refine {parent.id}. Each must differ from the "
        "others and from every experiment above. Directions: "
        + ", ".join(d.value for d in Direction if d is not Direction.BASELINE) + ". "
        + (f"kinds: a subset of {list(card.kinds)}, or [] for all. " if card.kinds
           else "kinds: always [] (this task has no problem kinds). ")
        + "answer_format: direct or reasoning. "
        f"max_samples at most {card.max_train_samples}. "
        "data.sources: kind task (this task's train split; leave name empty), file (an existing local "
        ".jsonl/.json/.csv/.parquet file) or hub (a Hub dataset id; only when online); the task's dev and "
        "test data may never be a source. "
        f"learning_rate one of {', '.join(f'{g:g}' for g in LEARNING_RATES)}; "
        "data.ops run in order: filter, dedup, decontaminate, synthesize (the agent LLM writes `count` new "
        "examples, or rewrites drawn ones; slow), llm_score (the LLM rates examples 1-5 and keeps those "
        "rated at least min_score). "
        "epochs 1-3; init_from parent continues training the parent's adapter. method: sft (learn the "
        "completions), dpo (prefer the correct answer over a wrong one), grpo (reinforcement learning "
        "scored by the task's metric; slow).",
        f"The settings of {parent.id}:",
        json.dumps(parent.spec.model_dump(mode="json")),
        'Answer as {"experiments": [...]}. One item, for illustration only (change other settings too):',
        json.dumps(example.model_dump(mode="json")),
    ]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def render_retry(previous: list[dict[str, str]], reply: str, errors: list[str], missing: int) -> list[dict[str, str]]:
    """Follow-up after invalid proposals: show the errors, ask for `missing` replacements."""
    feedback = "\n".join(f"- {e}" for e in errors)
    return [*previous, {"role": "assistant", "content": reply},
            {"role": "user", "content": f"These proposals were rejected:\n{feedback}\n"
             f"Send exactly {missing} corrected experiments in the same JSON form. Each must change at least "
             "one of kinds, max_samples, answer_format, learning_rate, epochs, lora_r or init_from."}]
