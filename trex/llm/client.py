"""One client for every OpenAI-compatible backend, with schema-constrained JSON output."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import openai

from trex.llm.schema_lint import schema_problems
from trex.tree.records import LLMUsage

log = logging.getLogger(__name__)


class StructuredMode(StrEnum):
    LLAMACPP = "llamacpp"        # {"type": "json_object", "schema": ...} (grammar-constrained)
    JSON_SCHEMA = "json_schema"  # OpenAI / vLLM structured outputs
    TOOL_CALL = "tool_call"      # a forced function call whose arguments are the JSON (no json_schema needed)


# Transient failures worth another try: rate limits, 5xx, timeouts, dropped connections.
TRANSIENT = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
# An error reply (400/422/500) naming these is the server refusing the reply schema: never retried.
SCHEMA_STATUS = (400, 422, 500)
SCHEMA_WORDS = re.compile(r"grammar|schema", re.IGNORECASE)


@dataclass(frozen=True)
class Prices:
    """USD per 1,000 tokens; None = unknown (the cost is then reported as unknown)."""

    per_1k_prompt: float | None = None
    per_1k_completion: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.per_1k_prompt is None or self.per_1k_completion is None:
            return None
        return (prompt_tokens * self.per_1k_prompt + completion_tokens * self.per_1k_completion) / 1000


class LLMUnavailable(RuntimeError):
    """The endpoint cannot be reached, or does not serve the configured model."""


class LLMSchemaError(LLMUnavailable):
    """The reply schema cannot be served: refused up front, or rejected by the server."""


@dataclass(frozen=True)
class Reply:
    text: str
    usage: LLMUsage
    request: dict[str, Any] = field(default_factory=dict)   # the body sent (never holds the API key)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve local $ref/$defs so servers with partial JSON-schema support accept it."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return resolve(defs[name])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


class LLMClient:
    def __init__(self, base_url: str, model: str, api_key: str = "not-needed", *,
                 mode: StructuredMode = StructuredMode.JSON_SCHEMA, temperature: float = 0.7,
                 max_tokens: int = 1024, timeout_s: float = 120.0, max_retries: int = 2,
                 backoff_s: float = 1.0, prices: Prices = Prices()) -> None:
        self.model, self.base_url = model, base_url
        self.mode = mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries, self.backoff_s, self.prices = max_retries, backoff_s, prices
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)

    def check(self) -> None:
        """Fail clearly when the endpoint is down or does not serve `self.model`."""
        try:
            served = [m.id for m in self._client.models.list().data]
        except openai.APIConnectionError as err:
            raise LLMUnavailable(f"LLM endpoint {self._client.base_url} is unreachable: {err}") from None
        if served and self.model not in served:
            raise LLMUnavailable(f"LLM endpoint {self._client.base_url} does not serve model {self.model!r}; "
                                 f"it serves: {', '.join(served)}")

    def redact(self, text: str) -> str:
        """`text` with this client's API key blanked out (for anything written to disk)."""
        key = str(self._client.api_key or "")
        return text.replace(key, "<redacted>") if len(key) >= 8 and key != "not-needed" else text

    def complete_json(self, messages: list[dict[str, str]], schema: dict[str, Any], *,
                      name: str = "response", seed: int | None = None) -> Reply:
        """Ask for one JSON document that follows `schema`; returns its raw text and usage.

        A schema no grammar can be built from raises LLMSchemaError before anything is sent."""
        if problems := schema_problems(schema):
            raise LLMSchemaError(f"reply schema {name!r} is invalid at {'; '.join(problems)}")
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                "max_tokens": self.max_tokens, "seed": seed, **structured(self.mode, schema, name)}
        started = time.monotonic()
        response = self._create(body)
        elapsed = time.monotonic() - started
        message = response.choices[0].message
        calls = getattr(message, "tool_calls", None) or []
        text = calls[0].function.arguments if calls and self.mode is StructuredMode.TOOL_CALL else message.content or ""
        usage = response.usage
        prompt, completion = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        return Reply(text=text, request=body, usage=LLMUsage(
            prompt_tokens=prompt, completion_tokens=completion, calls=1, seconds=elapsed,
            cost_usd=self.prices.cost(prompt, completion)))

    def _create(self, body: dict[str, Any]) -> Any:
        """One chat completion, retried with exponential backoff on transient errors."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._client.chat.completions.create(**body)
            except openai.NotFoundError as err:
                raise LLMUnavailable(f"LLM endpoint rejected model {self.model!r}: {err}") from None
            except openai.APIStatusError as err:
                if err.status_code in SCHEMA_STATUS and SCHEMA_WORDS.search(str(err)):
                    raise LLMSchemaError(f"LLM endpoint rejected the reply schema "
                                         f"(HTTP {err.status_code}): {err}") from None
                if not isinstance(err, TRANSIENT) or attempt == self.max_retries:
                    raise
                failure: Exception = err
            except openai.APIConnectionError as err:
                if attempt == self.max_retries:
                    raise LLMUnavailable(f"LLM endpoint {self._client.base_url} is unreachable: {err}") from None
                failure = err
            delay = min(self.backoff_s * 2 ** attempt, 30.0)
            log.warning("LLM call failed (%s); retry %d/%d in %.1fs", type(failure).__name__, attempt + 1,
                        self.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")


def structured(mode: StructuredMode, schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The request fields that hold a reply to `schema` in `mode`."""
    schema = inline_refs(schema)
    if mode is StructuredMode.LLAMACPP:
        return {"response_format": {"type": "json_object", "schema": schema}}
    if mode is StructuredMode.TOOL_CALL:
        return {"tools": [{"type": "function", "function": {"name": name, "parameters": schema,
                                                             "description": "Submit the answer as arguments."}}],
                "tool_choice": {"type": "function", "function": {"name": name}}}
    return {"response_format": {"type": "json_schema",
                                "json_schema": {"name": name, "schema": schema, "strict": False}}}
