"""The optional LLM judge for CS-Bench's fill-in-the-blank and open-ended items.

CS-Bench grades these two formats with GPT-4 (its `gen_judgment.py`): a fill-in answer
gets 1 when it means the same as the verified reference answer (another notation or
format of the same answer counts), else 0; an open-ended answer gets 1-10 for accuracy,
relevance and completeness in four tiers, and counts as score / 10. The prompts below
state those criteria in our own words. The judge is any OpenAI-compatible chat endpoint,
reached with the standard library (no client package), at temperature 0.

Strict verdicts: the reply's last non-empty line (after any <think> block) must be the
score alone, optionally as "Score: N", "N/10" or bold; anything else, or a number out of
range, raises JudgeError naming the item and the reply (the official script instead takes
the last 0/1 or 1-10 anywhere in the reply, and 0 when there is none).
"""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

FILL_IN_PROMPT = """\
You are a teaching assistant marking a computer-science student's fill-in-the-blank answer.
The reference answer below has been checked and is correct. Mark the student's answer 1 if it
has the same meaning as the reference answer (an equivalent value, notation, wording or format
is also correct), and 0 otherwise.

Question: {question}
Reference answer: {reference}
Student answer: {answer}

Reply with the mark alone: 0 or 1."""

OPEN_ENDED_PROMPT = """\
You are a teaching assistant marking a computer-science student's answer to an open question.
The reference answer below has been checked and is correct; mark against it on a scale of 1
(worst) to 10 (best), weighing accuracy, relevance, completeness and depth of understanding:

- 1 to 3: several basic mistakes showing little understanding; mostly beside the question and
  the reference; many key points missing.
- 4 to 6: some mistakes, though most basic ideas are right; broadly on topic with some parts
  that miss what was asked; fairly complete but short of important details or key points.
- 7 to 8: nearly all correct, only small slips; closely on topic; thorough, covering the key
  points well.
- 9 to 10: no mistakes, a precise and deep grasp of the matter; exactly what was asked; well
  organised and covering every aspect of the question.

Judge accuracy against the reference first, then settle the mark by relevance and completeness.

Question: {question}
Reference answer: {reference}
Student answer: {answer}

Reply with the mark alone: a whole number from 1 to 10."""

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_VERDICT = re.compile(r"(?:score|mark)?\s*[:：]?\s*[*`]*\s*(\d{1,2})\s*[*`]*\s*(?:/\s*(?:1|10))?\s*[*`]*\.?",
                      re.IGNORECASE)
_RETRY_STATUS = (429, 500, 502, 503, 504)


class JudgeError(RuntimeError):
    """The judge could not give a verdict: endpoint unreachable or refusing, or a reply that is not one."""


def parse_verdict(reply: str, low: int, high: int) -> int:
    """The whole-number mark in `reply` (strict, see the module docstring), checked to lie in [low, high]."""
    lines = [line.strip() for line in _THINK.sub("", reply).splitlines() if line.strip()]
    found = _VERDICT.fullmatch(lines[-1]) if lines else None
    if not found:
        raise ValueError(f"no mark in the reply's last line {lines[-1] if lines else ''!r}")
    mark = int(found.group(1))
    if not low <= mark <= high:
        raise ValueError(f"mark {mark} is outside {low}-{high}")
    return mark


@dataclass(frozen=True)
class Judge:
    """An OpenAI-compatible chat endpoint used as CS-Bench's grader."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    retries: int = 2

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _request(self, prompt: str) -> urllib.request.Request:
        body = {"model": self.model, "temperature": 0.0, "messages": [{"role": "user", "content": prompt}]}
        headers = {"Content-Type": "application/json"}
        if key := os.environ.get(self.api_key_env, ""):
            headers["Authorization"] = f"Bearer {key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")

    def _fail(self, what: str) -> JudgeError:
        return JudgeError(f"cs_bench LLM judge (judge_base_url={self.base_url!r}, judge_model={self.model!r}): {what}")

    def _http_error(self, err: urllib.error.HTTPError) -> JudgeError:
        try:
            detail = json.loads(err.read() or b"{}").get("error", {}).get("message", "")
        except (ValueError, AttributeError):
            detail = ""
        hint = {401: f"; is ${self.api_key_env} (judge_api_key_env) set to a valid key?",
                403: f"; is ${self.api_key_env} (judge_api_key_env) set to a valid key?",
                404: "; judge_base_url should end in /v1 and judge_model be a model the server serves"}
        return self._fail(f"HTTP {err.code} from {self.url}{': ' + detail if detail else ''}{hint.get(err.code, '')}")

    def complete(self, prompt: str) -> str:
        """The assistant text the endpoint returns for `prompt`; retries rate limits, 5xx and timeouts."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                with urllib.request.urlopen(self._request(prompt), timeout=self.timeout_s) as response:
                    payload: Any = json.loads(response.read())
                break
            except urllib.error.HTTPError as err:
                if last or err.code not in _RETRY_STATUS:
                    raise self._http_error(err) from None
            except urllib.error.URLError as err:
                if last or isinstance(err.reason, ConnectionRefusedError):
                    raise self._fail(f"cannot reach {self.url} ({err.reason}); is the server running?") from None
            except TimeoutError:
                if last:
                    raise self._fail(f"no reply from {self.url} within {self.timeout_s:g}s") from None
            except ValueError as err:
                raise self._fail(f"the reply from {self.url} is not JSON ({err})") from None
            time.sleep(2 ** attempt)
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._fail(f"the reply is not an OpenAI chat completion: {str(payload)[:200]}") from None
        if not isinstance(content, str):
            raise self._fail(f"the reply has no text content: {str(payload)[:200]}")
        return content

    def grade(self, item: str, template: str, low: int, high: int, **fields: str) -> int:
        """The judge's mark for one answer; JudgeError names `item` when the reply holds no valid mark."""
        reply = self.complete(template.format(**fields))
        try:
            return parse_verdict(reply, low, high)
        except ValueError as err:
            raise self._fail(f"item {item}: {err}; the reply was {reply[:300]!r}") from None
