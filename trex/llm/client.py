"""One client for every OpenAI-compatible backend, with schema-constrained JSON output."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import openai

from trex.tree.records import LLMUsage

log = logging.getLogger(__name__)


class StructuredMode(StrEnum):
    LLAMACPP = "llamacpp"        # {"type": "json_object", "schema": ...} (grammar-constrained)
    JSON_SCHEMA = "json_schema"  # OpenAI / vLLM structured outputs


class LLMUnavailable(RuntimeError):
    """The endpoint cannot be reached, or does not serve the configured model."""


@dataclass(frozen=True)
class Reply:
    text: str
    usage: LLMUsage


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
                 max_tokens: int = 1024, timeout_s: float = 120.0, max_retries: int = 2) -> None:
        self.model, self.base_url = model, base_url
        self.mode = mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s,
                                     max_retries=max_retries)

    def check(self) -> None:
        """Fail clearly when the endpoint is down or does not serve `self.model`."""
        try:
            served = [m.id for m in self._client.models.list().data]
        except openai.APIConnectionError as err:
            raise LLMUnavailable(f"LLM endpoint {self._client.base_url} is unreachable: {err}") from None
        if served and self.model not in served:
            raise LLMUnavailable(f"LLM endpoint {self._client.base_url} does not serve model {self.model!r}; "
                                 f"it serves: {', '.join(served)}")

    def complete_json(self, messages: list[dict[str, str]], schema: dict[str, Any], *,
                      name: str = "response", seed: int | None = None) -> Reply:
        """Ask for one JSON document that follows `schema`; returns its raw text and usage."""
        schema = inline_refs(schema)
        if self.mode is StructuredMode.LLAMACPP:
            response_format: dict[str, Any] = {"type": "json_object", "schema": schema}
        else:
            response_format = {"type": "json_schema",
                               "json_schema": {"name": name, "schema": schema, "strict": False}}
        started = time.monotonic()
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, response_format=response_format,  # type: ignore[arg-type]
                temperature=self.temperature, max_tokens=self.max_tokens, seed=seed)
        except openai.APIConnectionError as err:
            raise LLMUnavailable(f"LLM endpoint {self._client.base_url} is unreachable: {err}") from None
        except openai.NotFoundError as err:
            raise LLMUnavailable(f"LLM endpoint rejected model {self.model!r}: {err}") from None
        elapsed = time.monotonic() - started
        text = response.choices[0].message.content or ""
        usage = response.usage
        return Reply(text=text, usage=LLMUsage(
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0, calls=1, seconds=elapsed))
