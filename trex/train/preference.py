"""Preference and reinforcement methods on top of the SFT plumbing: TRL's DPOTrainer and GRPOTrainer.

DPO pairs each prompt's gold completion (chosen) with a wrong one (rejected): the same text
with its final answer replaced by a nearby wrong number when the answer is an integer,
else another example's completion. GRPO samples `num_generations` completions per prompt
and rewards each with the task's own scorer (a verifiable reward).
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable

from datasets import Dataset
from transformers import PreTrainedModel
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer

from ftbench.base import Example, Task
from trex.train.sft import TrainSetup, TrainStats, common_args, run_trainer, with_adapter

_INT = re.compile(r"-?\d+")


def wrong_completion(text: str, answer: str, rng: random.Random, fallback: str) -> str:
    """`text` with its last occurrence of the integer `answer` changed to a nearby wrong value."""
    if not re.fullmatch(r"-?\d+", answer.strip()):
        return fallback
    wrong = str(int(answer) + rng.choice([-3, -2, -1, 1, 2, 3, 10]))
    cut = text.rfind(answer)
    return text[:cut] + wrong + text[cut + len(answer):] if cut >= 0 else f"The answer is {wrong}."


def preference_pairs(dataset: Dataset, seed: int) -> Dataset:
    """prompt / chosen / rejected chats from a built recipe (prompt, completion, answer)."""
    rng = random.Random(seed)
    rows = dataset.to_list()
    out = []
    for i, row in enumerate(rows):
        gold = row["completion"][0]["content"]
        other = rows[(i + 1 + rng.randrange(max(1, len(rows) - 1))) % len(rows)]["completion"][0]["content"]
        bad = wrong_completion(gold, row["answer"], rng, fallback=other)
        if bad == gold:
            continue
        out.append({"prompt": row["prompt"], "chosen": [{"role": "assistant", "content": gold}],
                    "rejected": [{"role": "assistant", "content": bad}]})
    return Dataset.from_list(out)


def train_dpo(model: PreTrainedModel, dataset: Dataset, setup: TrainSetup) -> tuple[PreTrainedModel, TrainStats]:
    model, peft_config = with_adapter(model, setup)
    pairs = preference_pairs(dataset, setup.seed)
    args = DPOConfig(**common_args(setup), max_length=setup.train.max_length, beta=setup.train.beta)
    trainer = DPOTrainer(model=model, args=args, train_dataset=pairs, processing_class=setup.tokenizer,
                         peft_config=peft_config)
    tokens = sum(len(r["chosen"][0]["content"]) + len(r["rejected"][0]["content"]) for r in pairs) // 4
    return run_trainer(trainer, setup, tokens * setup.train.epochs)


def task_reward(task: Task) -> Callable[..., list[float]]:
    """A GRPO reward function: the task's score of each completion against the row's gold answer."""

    def reward(prompts: list, completions: list, answer: list[str], **_: object) -> list[float]:
        scores = []
        for completion, gold in zip(completions, answer, strict=True):
            text = completion[-1]["content"] if isinstance(completion, list) else str(completion)
            scores.append(task.score(task.extract(text), Example(id="", question="", answer=gold)))
        return scores

    reward.__name__ = f"{task.name}_{task.metric}"
    return reward


def train_grpo(model: PreTrainedModel, dataset: Dataset, setup: TrainSetup, task: Task,
               max_completion_length: int) -> tuple[PreTrainedModel, TrainStats]:
    model, peft_config = with_adapter(model, setup)
    t = setup.train
    batch = max(t.batch_size - t.batch_size % t.num_generations, t.num_generations)  # whole groups per batch
    args = GRPOConfig(**{**common_args(setup), "per_device_train_batch_size": batch},
                      num_generations=t.num_generations, max_completion_length=max_completion_length,
                      beta=t.beta, temperature=1.0)
    # trl types a reward function's result as the invariant list[float | None]
    trainer = GRPOTrainer(model=model, reward_funcs=[task_reward(task)], args=args,  # type: ignore[list-item]
                          train_dataset=dataset.select_columns(["prompt", "answer"]),
                          processing_class=setup.tokenizer, peft_config=peft_config)
    return run_trainer(trainer, setup, tokens=0)
