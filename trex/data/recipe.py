"""Build a training set from a spec's data recipe, over HF `datasets`."""
from __future__ import annotations

import random

from datasets import Dataset

import ftbench
from ftbench.base import Example, Task
from trex.tree.records import AnswerFormat, DataRecipe


class RecipeError(ValueError):
    """A recipe that cannot be built; names the operator and the offending argument."""


def completion_text(example: Example, answer_format: AnswerFormat) -> str:
    if answer_format is AnswerFormat.REASONING and example.solution:
        return example.solution
    return f"The answer is {example.answer}."


def build_sft_dataset(task: Task, recipe: DataRecipe, seed: int) -> Dataset:
    """Select by kind, shuffle with the seed, cap, and template as prompt/completion chats."""
    examples = ftbench.load_for_training(task)
    if recipe.kinds:
        unknown = sorted(set(recipe.kinds) - set(task.kinds))
        if unknown:
            raise RecipeError(f"select: kinds={unknown} unknown to task {task.name!r}; known: {list(task.kinds)}")
        examples = [e for e in examples if e.kind in recipe.kinds]
    if not examples:
        raise RecipeError(f"select: kinds={recipe.kinds} left no training examples")
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    examples = examples[: recipe.max_samples]
    return Dataset.from_list([
        {"prompt": task.messages(e.question),
         "completion": [{"role": "assistant", "content": completion_text(e, recipe.answer_format)}]}
        for e in examples])
