"""GTA ToolAcc cross-checked against a transcription of GTA's own step-by-step scoring.

GTA publishes no per-step model predictions, so no published figure can be recomputed.
Instead the helpers below transcribe, for tests only, how a reply becomes a scored step in
GTA's step-by-step mode (open-compass/GTA at commit 37c2b6016893d2702c09ad5a1868e975496ab7fd,
Apache-2.0, README_GTA-1.md: AgentInferencer and GTABenchEvaluator in mode every_with_gt):
lagent's `ReActProtocol.parse` (InternLM/lagent `lagent/agents/react.py`, commit
152ba0bb8ff47a2441755dd048d924519556f958, Apache-2.0), the action executor's name resolution
(GTA `opencompass/opencompass/models/lagent.py`: `_safe_call` and `LagentAgent.next_step`;
lagent's actions report their own name as the type for any api) and the ToolAcc count of
`opencompass/opencompass/datasets/gta_bench.py` `GTABenchEvaluator.score`.

GTA's model writes ReAct ("Action: <name>" / "Action Input: <args>"), ftbench's writes JSON,
so each random call is rendered both ways and the two scorers must agree step by step and in
aggregate. One deviation is excluded by name: arguments that are not valid JSON (ReAct's
separate Action line still counts; the JSON object does not decode). A decoy call before the
real one is only drawn when the real one has arguments, since ReAct pairs the last Action with
the last Action Input anywhere in the reply, a pairing JSON cannot express.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

import pytest

from ftbench import Split, get_task
from ftbench.base import Example
from ftbench.gta.task import CATEGORIES, step_examples

NO_ACTION, FINISH_ACTION, INVALID_ACTION = "NoAction", "FinishAction", "InvalidAction"
GTA_TOOLS = [tool for tools in CATEGORIES.values() for tool in tools]


def _lagent_parse(message: str) -> str:
    """ReActProtocol.parse, the action name only (the arguments do not enter ToolAcc)."""
    if "Final Answer:" in message:
        return FINISH_ACTION
    action_match = re.findall("Action:(.*?)\n", message)
    if not action_match or not re.findall("Action Input:(.*)", message, re.DOTALL):
        return NO_ACTION
    return action_match[-1].strip()


def _gta_step(reply: str, tools: list[str]) -> dict[str, Any]:
    """LagentAgent.next_step: the predicted message the evaluator sees."""
    name = _lagent_parse(reply)
    action = name if name in tools or "." not in name else name.rsplit(".", 1)[0]
    if action not in tools:
        action = name if name in (NO_ACTION, FINISH_ACTION) else INVALID_ACTION
    if action == FINISH_ACTION:
        return {"role": "assistant", "content": reply}
    return {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": action, "arguments": {}}}]}


def _response_type(item: dict[str, Any]) -> tuple[str, Any]:
    if "tool_calls" in item:
        return "tool", item["tool_calls"][0]["function"]
    return ("answer", item["content"]) if item["role"] == "assistant" else ("tool_return", item["content"])


def _gta_tool_acc(preds: list[dict[str, Any]], golds: list[dict[str, Any]]) -> float:
    """GTABenchEvaluator.score, mode every_with_gt: tool_acc over the gold steps (x100)."""
    total = hits = 0
    for pred, gt in zip(preds, golds, strict=True):
        pred_type, pred_ = _response_type(pred)
        gt_type, gt_ = _response_type(gt)
        total += gt_type == "tool"
        hits += pred_type == gt_type == "tool" and pred_["name"] == gt_["name"]
    return hits / total * 100


@dataclass(frozen=True)
class _Call:
    name: str
    arguments: str        # JSON text, "" for none, or text that is not JSON
    finish: bool
    decoy: str            # a tool called earlier in the same reply, "" for none

    @property
    def malformed(self) -> bool:
        return bool(self.arguments) and not _is_json(self.arguments)

    def react(self) -> str:
        text = f"Thought: first\nAction: {self.decoy}\nAction Input: {{}}\n" if self.decoy else ""
        text += f"Thought: next step\nAction: {self.name}\n"
        text += f"Action Input: {self.arguments}\n" if self.arguments else ""
        return text + ("Final Answer: done\n" if self.finish else "")

    def json(self) -> str:
        text = f'Thought: first {{"name": {json.dumps(self.decoy)}, "arguments": {{}}}}\n' if self.decoy else ""
        body = f', "arguments": {self.arguments}' if self.arguments else ""
        text += f'Thought: next step\n{{"name": {json.dumps(self.name)}{body}}}\n'
        return text + ("Final Answer: done\n" if self.finish else "")


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _random_call(rng: random.Random, gold: str, tools: list[str]) -> _Call:
    name = rng.choice([gold, gold, gold, rng.choice(tools), rng.choice(GTA_TOOLS), gold.lower(), gold.upper(),
                       f"  {gold}\t", f"{gold}.run", f"{gold}.call", f"{gold}.run.x", f"x.{gold}", "",
                       NO_ACTION, FINISH_ACTION, INVALID_ACTION, "GoogleSearchTool"])
    arguments = rng.choice(['{"image": "image/image_1.jpg"}', '{"expression": "2+2"}', "{}", '"a.jpg"', "null",
                            "", "", "{image: 'a.jpg'}", '{"text": "x",}'])
    decoy = rng.choice(GTA_TOOLS) if arguments and rng.random() < 0.3 else ""
    return _Call(name, arguments, rng.random() < 0.1, decoy)


@pytest.fixture(scope="module")
def queries() -> dict[str, dict[str, Any]]:
    task = get_task("gta", source="fixture")
    return json.loads(task._path().read_text(encoding="utf-8"))


def test_tool_accuracy_matches_gta_on_random_calls(queries: dict[str, dict[str, Any]]) -> None:
    task = get_task("gta", source="fixture")
    rng = random.Random(229)
    preds, golds, examples, replies, step_preds, step_golds = [], [], [], [], [], []
    for _ in range(40):
        for query_id, item in queries.items():
            tools = [t["name"] for t in item["tools"]]
            steps = iter(step_examples(query_id, item))
            for turn in item["dialogs"]:
                if turn["role"] != "assistant":
                    continue
                gold = turn["tool_calls"][0]["function"]["name"] if turn.get("tool_calls") else rng.choice(tools)
                call = _random_call(rng, gold, tools)
                preds.append(_gta_step(call.react(), tools))
                golds.append(turn)
                example = next(steps) if turn.get("tool_calls") else None
                if example is None or call.malformed:
                    continue
                assert example.meta["tool"] == gold
                expected = _gta_tool_acc(preds[-1:], [turn]) / 100
                assert task.score(task.extract(call.json()), example) == expected, call
                examples.append(example)
                replies.append(call.json())
                step_preds.append(preds[-1])
                step_golds.append(turn)
    assert 600 < len(examples) < sum("tool_calls" in g for g in golds)      # some malformed calls left out
    official = _gta_tool_acc(step_preds, step_golds)
    assert 15 < official < 60
    assert 100 * task.aggregate([task.extract(r) for r in replies], examples) == pytest.approx(official)
    assert _gta_tool_acc(preds, golds) != pytest.approx(official)            # malformed calls do count in GTA


def _example(name: str) -> Example:
    return Example(id="s", question="q", answer=json.dumps({"arguments": {}, "name": name}), meta={"tool": name})


@pytest.mark.parametrize("call, official", [
    (_Call("OCR", '{"image": "a.jpg"}', False, ""), 1.0),
    (_Call("OCR.run", "{}", False, ""), 1.0),                   # "Tool.api" runs the tool
    (_Call("OCR.run.x", "{}", False, ""), 0.0),
    (_Call("ocr", "{}", False, ""), 0.0),                       # names keep their case
    (_Call("OCR", "", False, ""), 0.0),                         # no "Action Input": NoAction
    (_Call("OCR", "{}", True, ""), 0.0),                        # "Final Answer:" makes it an answer
    (_Call("Calculator", "{}", False, "OCR"), 0.0),             # the last call is read
])
def test_gta_rules_by_hand(call: _Call, official: float) -> None:
    task = get_task("gta", source="fixture")
    pred = _gta_step(call.react(), ["OCR", "Calculator"])
    gold = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "OCR", "arguments": {}}}]}
    assert _gta_tool_acc([pred], [gold]) / 100 == official
    assert task.score(task.extract(call.json()), _example("OCR")) == official


def test_the_malformed_arguments_deviation_is_real() -> None:
    task = get_task("gta", source="fixture")
    call = _Call("OCR", "{image: 'a.jpg'}", False, "")
    gold = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "OCR", "arguments": {}}}]}
    assert _gta_tool_acc([_gta_step(call.react(), ["OCR"])], [gold]) == 100.0
    assert task.extract(call.json()) == "" and task.score(task.extract(call.json()), _example("OCR")) == 0.0


def test_gold_answer_steps_do_not_count(queries: dict[str, dict[str, Any]]) -> None:
    task = get_task("gta", source="fixture")
    examples = task.load(Split.TEST)
    assert examples and all(e.meta["tool"] in GTA_TOOLS for e in examples)
    answer_turn = {"role": "assistant", "content": "The total is 9.80."}
    step = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "OCR", "arguments": {}}}]}
    assert _gta_tool_acc([step, step], [step, answer_turn]) == 100.0          # denominator: gold tool steps
