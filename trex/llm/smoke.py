"""Smoke test of the llama.cpp build: start the server as trex does, ask SmolLM2 one question.

`python -m trex.llm.smoke` prints the reply and the prompt and generation speed; exit 1 on any
failure (a SIGILL in the server included). The speed comes from a streamed request (time to the
first token: prompt evaluation; the rest: generation) and the token counts from the usage of the
same request sent again without streaming.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import OpenAI

from trex.llm.llamacpp import LlamaCppServer, builtin_gguf

log = logging.getLogger(__name__)

ALIAS = "smollm2-135m-instruct"
SYSTEM = ("You are the Researcher of an automated LLM fine-tuning search. Each experiment "
          "fine-tunes a small language model with LoRA on arithmetic word problems and is scored "
          "by exact-match accuracy on a held-out dev split. You propose the next experiment from "
          "the results so far: the learning rate, the number of epochs, the batch size, the "
          "LoRA rank and alpha, the maximum sequence length, and which kinds of problems to "
          "train on. Prefer small, well-motivated changes to the best experiment, explain the "
          "reason in one sentence, and never repeat an experiment that was already run.")
QUESTION = ("The best experiment so far used learning rate 5e-4, 1 epoch, batch size 8 and LoRA "
            "rank 8, and scored 0.31. What single change would you try next, and why?")


@dataclass(frozen=True)
class Completion:
    """One chat completion: its text, token counts and timings."""

    reply: str
    prompt_tokens: int
    completion_tokens: int
    prompt_s: float       # request sent -> first streamed token
    generation_s: float   # first -> last streamed token

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.prompt_s

    @property
    def generation_tps(self) -> float:
        return (self.completion_tokens - 1) / self.generation_s if self.generation_s > 0 else 0.0

    def summary(self) -> str:
        return (f"prompt {self.prompt_tokens} tokens in {self.prompt_s:.3f}s "
                f"({self.prompt_tps:.0f} tok/s); generation {self.completion_tokens} tokens in "
                f"{self.generation_s:.3f}s ({self.generation_tps:.1f} tok/s)")


def complete(client: OpenAI, system: str, question: str, max_tokens: int) -> Completion:
    """Ask once streamed (timings), then again unstreamed (reply and usage; the server reuses
    the evaluated prompt). A prompt that starts like the previous one is partly cached: vary
    its start between calls that are timed."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    request: dict[str, Any] = dict(model=ALIAS, messages=messages, max_tokens=max_tokens, temperature=0.0)
    started = time.perf_counter()
    first = last = 0.0
    for chunk in client.chat.completions.create(stream=True, **request):
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
    if not first:
        raise RuntimeError("the server streamed no tokens")
    reply = client.chat.completions.create(**request)
    if reply.usage is None or not reply.choices[0].message.content:
        raise RuntimeError(f"empty reply or no usage: {reply}")
    return Completion(reply.choices[0].message.content, reply.usage.prompt_tokens,
                      reply.usage.completion_tokens, first - started, last - first)


def run(max_tokens: int, log_path: Path) -> Completion:
    """Start the llama.cpp server on the built-in SmolLM2 GGUF, complete once, stop it."""
    server = LlamaCppServer(builtin_gguf(), ALIAS, log_path=log_path)
    server.start()
    try:
        return complete(OpenAI(base_url=server.base_url, api_key="not-needed"), SYSTEM, QUESTION,
                        max_tokens)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """CLI: the smoke test; 0 when the server answered."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = run(args.max_tokens, Path(tmp) / "server.log")
        except Exception as err:   # noqa: BLE001 - any failure fails the smoke test
            log.error("llama.cpp smoke test failed: %s", err)
            return 1
    print(f"reply: {result.reply.strip()}")
    print(f"llama.cpp smoke: {result.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
