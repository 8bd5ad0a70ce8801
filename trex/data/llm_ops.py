"""Data operators that call the agent LLM: synthesize new or rewritten examples, and score examples.

Every call goes through `LLMClient` with a JSON schema, so the same code runs on llama.cpp,
vLLM or any OpenAI-compatible endpoint. Calls are bounded (at most two attempts per batch
wanted, and a per-node token budget) and their token usage is metered into the node's result, where the run's LLM budget
counts it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from datasets import Dataset
from pydantic import BaseModel, Field

from trex.llm.schema_lint import reply_schema
from trex.prompts import render_rewrite, render_score, render_synthesize
from trex.tree.records import LLMScoreOp, LLMUsage, SynthesizeOp

if TYPE_CHECKING:      # the openai SDK loads only when an operator really calls the LLM
    from trex.llm.client import LLMClient

log = logging.getLogger(__name__)
NEW_PER_CALL = 4      # small models keep a handful of examples coherent per reply
REWRITE_PER_CALL = 4
SCORE_PER_CALL = 8


@dataclass(frozen=True)
class DataLLM:
    """Where the data operators reach the agent LLM (the executor gets this from the runner)."""

    base_url: str
    model: str
    mode: str = "json_schema"        # a trex.llm.client.StructuredMode value
    api_key_env: str = ""            # read from the executor's environment; never stored
    temperature: float = 0.7
    max_tokens: int = 1024
    timeout_s: float = 600.0

    def client(self) -> LLMClient:
        from trex.llm.client import LLMClient, StructuredMode

        key = os.environ.get(self.api_key_env, "not-needed") if self.api_key_env else "not-needed"
        return LLMClient(self.base_url, self.model, key, mode=StructuredMode(self.mode),
                         temperature=self.temperature, max_tokens=self.max_tokens, timeout_s=self.timeout_s)


@dataclass
class Meter:
    """Counts the operators' LLM usage and stops their calls once `max_tokens` are spent."""

    max_tokens: int | None = None
    usage: LLMUsage = field(default_factory=LLMUsage)

    @property
    def exhausted(self) -> bool:
        spent = self.usage.prompt_tokens + self.usage.completion_tokens
        return self.max_tokens is not None and spent >= self.max_tokens

    def ask(self, client: LLMClient, messages: list[dict[str, str]], schema: dict[str, Any], seed: int) -> Any:
        """The parsed JSON reply, or None when it is not JSON or the token budget is spent."""
        if self.exhausted:
            return None
        reply = client.complete_json(messages, schema, name="data", seed=seed)
        self.usage = self.usage + reply.usage
        try:
            return json.loads(reply.text, strict=False)
        except json.JSONDecodeError:
            return None


def _strings(data: Any, key: str) -> list[Any]:
    items = data.get(key) if isinstance(data, dict) else None
    return items if isinstance(items, list) else []


def _row(ds: Dataset, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {c: "" for c in ds.column_names}
    if "_part" in base:
        base["_part"] = 0
    return {**base, **values}


def synthesize(ds: Dataset, op: SynthesizeOp, client: LLMClient, description: str, seed: int,
               meter: Meter) -> Dataset:
    """`ds` plus up to `op.count` LLM-written rows (new, or rewrites that keep the answer)."""
    if len(ds) == 0:
        from trex.data.ops import RecipeError

        raise RecipeError("synthesize: there are no examples left to imitate or rewrite")
    rng = random.Random(seed)
    seen = {" ".join(q.lower().split()) for q in ds["question"]}
    added: list[dict[str, Any]] = []
    per_call = NEW_PER_CALL if op.mode == "new" else REWRITE_PER_CALL
    calls = 2 * math.ceil(op.count / per_call)
    for attempt in range(calls):
        if len(added) >= op.count or meter.exhausted:
            break
        drawn = [ds[i] for i in rng.sample(range(len(ds)), min(per_call, len(ds)))]
        if op.mode == "new":
            data = meter.ask(client, render_synthesize(description, drawn[:3], per_call, op.focus),
                             NEW_SCHEMA, seed + attempt)
            candidates = [(e.get("question"), e.get("answer"), e.get("solution", ""), "")
                          for e in _strings(data, "examples") if isinstance(e, dict)]
        else:
            data = meter.ask(client, render_rewrite(description, drawn), REWRITE_SCHEMA, seed + attempt)
            rewritten = _strings(data, "questions")
            candidates = [(q, r["answer"], r["solution"], r["kind"]) for q, r in zip(rewritten, drawn, strict=False)] \
                if len(rewritten) == len(drawn) else []
        for question, answer, solution, kind in candidates:
            if not (isinstance(question, str) and isinstance(answer, (str, int, float))) or not str(answer).strip():
                continue
            key = " ".join(question.lower().split())
            if not key or key in seen:
                continue
            seen.add(key)
            added.append(_row(ds, question=question.strip(), answer=str(answer).strip(),
                              solution=str(solution or "").strip(), kind=kind, source=f"llm:{op.mode}"))
    added = added[: op.count]
    log.info("synthesize(%s): %d of %d wanted rows, %d LLM calls%s", op.mode, len(added), op.count,
             meter.usage.calls, " (token budget spent)" if meter.exhausted else "")
    if not added:
        from trex.data.ops import RecipeError

        raise RecipeError(f"synthesize: the LLM wrote no valid new example in {meter.usage.calls} calls "
                          f"(count={op.count})")
    from datasets import concatenate_datasets

    return concatenate_datasets([ds, Dataset.from_list(added, features=ds.features)])


def llm_score(ds: Dataset, op: LLMScoreOp, client: LLMClient, description: str, seed: int,
              meter: Meter) -> Dataset:
    """At most `op.max_examples` drawn rows, those rated >= `op.min_score`; a batch whose ratings
    cannot be read is kept unrated (logged), so a weak LLM never empties the data."""
    chosen = sorted(random.Random(seed).sample(range(len(ds)), min(op.max_examples, len(ds))))
    keep, unrated = [], 0
    for start in range(0, len(chosen), SCORE_PER_CALL):
        batch = chosen[start:start + SCORE_PER_CALL]
        data = meter.ask(client, render_score(description, [ds[i] for i in batch]), SCORE_SCHEMA, seed + start)
        scores = _strings(data, "scores")
        if len(scores) != len(batch) or not all(isinstance(s, (int, float)) for s in scores):
            unrated += len(batch)
            keep += batch
            continue
        keep += [i for i, s in zip(batch, scores, strict=False) if s >= op.min_score]
    if unrated:
        log.warning("llm_score: %d of %d rows could not be rated and were kept", unrated, len(chosen))
    return ds.select(keep)


class NewExample(BaseModel):
    question: str
    answer: str
    solution: str


class NewExamples(BaseModel):
    examples: list[NewExample]


class Rewrites(BaseModel):
    questions: list[str]


class Scores(BaseModel):
    scores: list[Annotated[int, Field(ge=1, le=5)]]


NEW_SCHEMA, REWRITE_SCHEMA, SCORE_SCHEMA = reply_schema(NewExamples), reply_schema(Rewrites), reply_schema(Scores)
