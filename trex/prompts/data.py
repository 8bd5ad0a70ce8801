"""Prompts of the LLM data operators (synthesize, llm_score)."""
from __future__ import annotations

import json

SYSTEM = "You write and check training data for fine-tuning a small language model. Reply with JSON only."


def _shown(rows: list[dict[str, str]]) -> str:
    return "\n".join(json.dumps({"question": r["question"], "answer": r["answer"], "solution": r["solution"]},
                                ensure_ascii=False) for r in rows)


def render_synthesize(task_description: str, examples: list[dict[str, str]], n: int,
                      focus: str) -> list[dict[str, str]]:
    """Ask for `n` new examples in the style of `examples`."""
    parts = [task_description.strip(), "Examples of the training data:", _shown(examples),
             f"Write {n} NEW examples of the same kind, each different from the ones above, with a correct "
             "answer and a short worked solution that ends with the answer."]
    if focus:
        parts.append(f"Focus: {focus}")
    parts.append('Answer as {"examples": [{"question": ..., "answer": ..., "solution": ...}, ...]}.')
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def render_rewrite(task_description: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Ask for a paraphrase of each question that keeps its answer."""
    parts = [task_description.strip(), "Rewrite each question below in different words. The meaning and the "
             "answer must stay exactly the same.", _shown(rows),
             f'Answer as {{"questions": [...]}} with exactly {len(rows)} rewritten questions, in the same order.']
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def render_score(task_description: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Ask for a 1-5 quality rating of each example."""
    parts = [task_description.strip(), "Rate each training example below from 1 (wrong or useless) to 5 "
             "(correct, clear and useful): is the answer right for the question, and is the question clear?",
             _shown(rows),
             f'Answer as {{"scores": [...]}} with exactly {len(rows)} integers from 1 to 5, in the same order.']
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]
