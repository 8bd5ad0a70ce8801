"""`math`: deterministic arithmetic word problems; exact match on the final integer.

Four kinds (add, subtract, multiply, two_step), each split drawn from its own fixed seed.
Questions never repeat across splits: dev and test are generated first and train skips
any question they hold.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from ftbench.base import Example, Split

NAMES = ("Ava", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jon", "Kemi", "Liam")
ITEMS = ("apples", "marbles", "stickers", "books", "coins", "pencils", "shells", "cards")
KINDS = ("add", "subtract", "multiply", "two_step")
SPLIT_SEEDS = {Split.TRAIN: 1_000, Split.DEV: 2_000, Split.TEST: 3_000}
_INT = re.compile(r"-?\d+")


def _problem(rng: random.Random, kind: str) -> tuple[str, int, str]:
    """One (question, answer, worked solution) of the given kind."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    if kind == "add":
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        q = f"{name} has {a} {item} and finds {b} more. How many {item} does {name} have now?"
        return q, a + b, f"{a} + {b} = {a + b}."
    if kind == "subtract":
        a = rng.randint(10, 99)
        b = rng.randint(1, a - 1)
        q = f"{name} has {a} {item} and gives away {b}. How many {item} are left?"
        return q, a - b, f"{a} - {b} = {a - b}."
    if kind == "multiply":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        q = f"{name} has {a} bags with {b} {item} in each bag. How many {item} are there in total?"
        return q, a * b, f"{a} * {b} = {a * b}."
    if kind == "two_step":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        c = rng.randint(1, a * b - 1)
        q = (f"{name} buys {a} boxes of {b} {item} and then gives {c} {item} to a friend. "
             f"How many {item} does {name} have left?")
        return q, a * b - c, f"{a} * {b} = {a * b}. {a * b} - {c} = {a * b - c}."
    raise ValueError(f"unknown math problem kind {kind!r}; expected one of {KINDS}")


def generate(split: Split, size: int, exclude: frozenset[str] = frozenset()) -> list[Example]:
    """`size` distinct problems for `split`, cycling through the kinds, skipping `exclude`."""
    rng = random.Random(SPLIT_SEEDS[split])
    seen: set[str] = set()
    out: list[Example] = []
    attempts = 0
    while len(out) < size:
        attempts += 1
        if attempts > size * 50:
            raise RuntimeError(f"math: cannot draw {size} distinct {split} problems")
        kind = KINDS[len(out) % len(KINDS)]
        question, answer, steps = _problem(rng, kind)
        if question in seen or question in exclude:
            continue
        seen.add(question)
        out.append(Example(id=f"{split}-{len(out):05d}", question=question, answer=str(answer),
                           solution=f"{steps} The answer is {answer}.", kind=kind))
    return out


@dataclass
class MathTask:
    name: str = "math"
    version: str = "1.0"
    metric: str = "exact_match"
    train_size: int = 4_000
    dev_size: int = 100
    test_size: int = 200
    kinds: tuple[str, ...] = KINDS

    @property
    def description(self) -> str:
        return (Path(__file__).with_name("description.md")).read_text()

    def load(self, split: Split) -> list[Example]:
        split = Split(split)
        if split is Split.TRAIN:
            held_out = generate(Split.DEV, self.dev_size) + generate(Split.TEST, self.test_size)
            return generate(Split.TRAIN, self.train_size, frozenset(e.question for e in held_out))
        if split is Split.DEV:
            return generate(Split.DEV, self.dev_size)
        dev = frozenset(e.question for e in generate(Split.DEV, self.dev_size))
        return generate(Split.TEST, self.test_size, dev)

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"Solve this word problem. Finish with the sentence \"The answer is\" followed by the number.\n{question}"}]

    def extract(self, completion: str) -> str:
        """The last integer in the completion; '' when it holds none."""
        found = _INT.findall(completion.replace(",", ""))
        return str(int(found[-1])) if found else ""

    def score(self, prediction: str, example: Example) -> float:
        return float(prediction.strip() == example.answer)

    def aggregate(self, scores: list[float]) -> float:
        return sum(scores) / len(scores) if scores else 0.0
