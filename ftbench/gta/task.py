"""`gta`: GTA (General Tool Agents) in step-by-step mode; metric ToolAcc, the next-tool accuracy.

Source: GTA's `dataset.json` (Hugging Face `Jize1/GTA`, also in the GitHub release
`gta_dataset.zip` of open-compass/GTA), a JSON object mapping query ids "0".."228" to
{tools, files, dialogs, gt_answer}. `dialogs` is a ReAct chain: the user query, assistant
turns with `tool_calls` (and a `thought`), `tool` turns with the tool's output, and a final
assistant answer. The file is read from $FTBENCH_DATA/gta/dataset.json (`source="hub"`).

Step-by-step mode (GTA's `every_with_gt`): every assistant turn that calls a tool becomes
one example. The model sees the query, the attached file paths, the query's tool list and
the gold history of earlier steps (thought, call and tool output), and must give the next
call as a JSON object {"name": ..., "arguments": {...}}.

Metric: ToolAcc = the predicted tool name equals the gold tool name, averaged over all
tool-call steps (GTA's `tool_acc / total['tool']`). ArgAcc (name and arguments both exact,
GTA's `arg_acc`) is available per sample as `arguments_match` for diagnosis.

Reading a reply (`extraction="official"`, default): GTA's step-by-step run parses a ReAct reply
with lagent's ReActProtocol (the last "Action:" line, and "Action Input:" must be present, else
NoAction; "Final Answer:" anywhere makes it an answer, not a call) and resolves the name with its
ActionExecutor (exact case; "Tool.api" is tool "Tool"). Our replies are JSON instead of ReAct, so
the same rules read: the last JSON object with a string "name" AND an "arguments" key, none if
the reply contains "Final Answer:", name stripped and compared with its case, "OCR.run" = "OCR".
Deviation: a call whose JSON does not decode scores 0 (ReAct's separate Action line would still
count). `extraction="lenient"` (opt-in, recorded in `version`) is the 2.0 reader: also
{"tool", "args"}, OpenAI's {"function": {...}}, a missing "arguments", and "Final Answer:" ignored.
Simplifications: the final-answer steps (SummAcc, which needs a sentence-embedding model
for subjective queries) and InstAcc are not scored; images are given as paths, not pixels.

Splits (`split_mode`), always by query, never splitting one query's steps. GTA has only one
(test) set of 229 queries. "official" (default): test = the official set less a dev set of
`DEV_QUERIES` = 20 queries carved from it with seed 4_230 (ftbench.source.official_splits;
2 queries for the 12-query fixture), train empty: training data must come from other
sources. "carve" (opt-in, the 1.x behaviour): test = 30% of the query ids (seed 4_229),
dev = 15% of the rest (seed 4_230), train = the remainder; with the real file 69 / 24 / 136
queries. Deviation in both: GTA reports scores on all 229 queries; our test set lacks the
dev queries, since GTA has no validation set (the count and seed are in `version`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftbench.base import Example, Split
from ftbench.source import TaskTexts, carve, check_split_mode, fixture_path, local_file, official_splits

SOURCE_URL = "https://huggingface.co/datasets/Jize1/GTA/resolve/main/dataset.json"
TEST_FRACTION, DEV_FRACTION = 0.3, 0.15
TEST_SEED, DEV_SEED = 4_229, 4_230
DEV_QUERIES, FIXTURE_DEV_QUERIES = 20, 2   # split_mode=official: dev queries carved from test
EXTRACTIONS = ("official", "lenient")
FINISH = "Final Answer:"                  # lagent ReActProtocol's finish marker
# GTA's own grouping of its 14 tools (its evaluator's `gettype`).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "perception": ("OCR", "ImageDescription", "RegionAttributeDescription", "TextToBbox"),
    "operation": ("DrawBox", "AddText", "GoogleSearch"),
    "logic": ("Calculator", "Solver", "Plot", "MathOCR", "CountGivenObject"),
    "creativity": ("TextToImage", "ImageStylization"),
}
KINDS = tuple(CATEGORIES)
INSTRUCTION = (
    "You are an agent that solves a user's query with tools, one step at a time. Below are the "
    "query, its attached files, the tools you may call and the steps taken so far with their "
    "outputs. Decide the next tool call. End your reply with the call as one JSON object: "
    '{"name": "<tool name>", "arguments": {"<argument>": <value>, ...}}')


def category(tool: str) -> str:
    """The GTA category of a tool name ('' for a tool outside GTA's 14)."""
    return next((kind for kind, tools in CATEGORIES.items() if tool in tools), "")


def canonical_call(name: str, arguments: Any) -> str:
    """A tool call as compact JSON with sorted keys: the form answers are stored and compared in."""
    return json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False, sort_keys=True)


def _render_io(spec: dict[str, Any]) -> str:
    text = f"{spec.get('name') or 'value'} ({spec.get('type')})"
    if spec.get("optional"):
        text += ", optional"
    if spec.get("description"):
        text += f": {spec['description']}"
    return text


def _render_tool(tool: dict[str, Any]) -> str:
    inputs = "; ".join(_render_io(i) for i in tool.get("inputs") or []) or "none"
    outputs = "; ".join(str(o.get("type")) for o in tool.get("outputs") or []) or "none"
    return f"- {tool['name']}: {tool.get('description', '')} Inputs: {inputs}. Outputs: {outputs}."


def _render_output(content: Any) -> str:
    """A tool turn's content ({"type": ..., "content": ...} in GTA) as text."""
    if isinstance(content, dict) and "content" in content:
        kind, value = content.get("type"), content["content"]
        return str(value) if kind == "text" else f"[{kind}] {value}"
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _render_context(item: dict[str, Any], history: list[dict[str, Any]]) -> str:
    """Query, files, tools and the gold steps before the one to predict."""
    queries = [d["content"] for d in history if d["role"] == "user"]
    lines = [f"Query: {q}" for q in queries]
    files = item.get("files") or []
    lines += ["", "Files:"] + [f"- {f['path']} ({f.get('type', 'file')})" for f in files] if files else []
    lines += ["", "Tools:"] + [_render_tool(t) for t in item.get("tools") or []]
    lines += ["", "Steps so far:"]
    step = 0
    for turn in history:
        if turn["role"] == "assistant" and turn.get("tool_calls"):
            step += 1
            call = turn["tool_calls"][0]["function"]
            lines.append(f"Step {step}:")
            if turn.get("thought"):
                lines.append(f"Thought: {turn['thought']}")
            lines.append(f"Action: {canonical_call(call['name'], call.get('arguments') or {})}")
        elif turn["role"] == "tool":
            lines.append(f"Observation: {_render_output(turn.get('content'))}")
        elif turn["role"] == "assistant":
            lines.append(f"Assistant: {turn.get('content', '')}")
    if not step:
        lines.append("(none yet)")
    return "\n".join(lines)


def step_examples(query_id: str, item: dict[str, Any]) -> list[Example]:
    """One example per tool-calling assistant turn of a GTA query (its gold history as context)."""
    dialogs = item["dialogs"]
    out: list[Example] = []
    for index, turn in enumerate(dialogs):
        if turn["role"] != "assistant" or not turn.get("tool_calls"):
            continue
        call = turn["tool_calls"][0]["function"]
        answer = canonical_call(call["name"], call.get("arguments") or {})
        out.append(Example(id=f"gta-{query_id}-step{len(out) + 1}", question=_render_context(item, dialogs[:index]),
                           answer=answer, solution=turn.get("thought") or "", kind=category(call["name"]),
                           meta={"query_id": query_id, "tool": call["name"]}))
    return out


def _parse_call(text: str) -> tuple[str, Any] | None:
    """(name, arguments) of a canonical call string, None when it is not one."""
    try:
        call = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    return call["name"], call.get("arguments")


def _as_official_call(obj: Any) -> tuple[str, Any] | None:
    """A decoded JSON value read as GTA reads a ReAct call: a string "name" and an "arguments" key."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or "arguments" not in obj:
        return None
    name = obj["name"].strip()
    return (name, obj["arguments"]) if name else None


def resolved_name(name: str, gold: str) -> str:
    """The tool GTA's action executor runs for `name`: "Tool.api" runs "Tool" (the gold tool always
    belongs to the query, so that prefix is a valid action exactly when it is the gold one)."""
    return gold if name != gold and "." in name and name.rsplit(".", 1)[0] == gold else name


def _as_call(obj: Any) -> tuple[str, Any] | None:
    """A decoded JSON value read leniently as a tool call: {"name"/"tool", "arguments"/"args"}, or
    OpenAI's {"function": {...}}."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name", obj.get("tool"))
    if not isinstance(name, str) or not name.strip():
        return None
    arguments = obj.get("arguments", obj.get("args", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    return name.strip(), arguments if arguments is not None else {}


@dataclass
class GtaTask(TaskTexts):
    """GTA step-by-step tool-call prediction; `source="fixture"` reads the bundled sample."""

    name: str = "gta"
    metric: str = "tool_accuracy"
    source: str = "hub"
    source_url: str = SOURCE_URL
    license: str = "Apache-2.0"
    kinds: tuple[str, ...] = KINDS
    split_mode: str = "official"
    extraction: str = "official"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_split_mode(self.name, self.split_mode)
        if self.extraction not in EXTRACTIONS:
            raise ValueError(f"gta: extraction={self.extraction!r} is not one of {', '.join(EXTRACTIONS)}")

    @property
    def dev_queries(self) -> int:
        """How many queries split_mode=official carves out of the test set as dev."""
        return FIXTURE_DEV_QUERIES if self.source == "fixture" else DEV_QUERIES

    @property
    def version(self) -> str:
        """2.x: split modes; official records its dev carve (queries and seed); 2.1: GTA's reading
        rules (the 2.0 reader is recorded as +lenient)."""
        mode = f"official-dev{self.dev_queries}q-seed{DEV_SEED}" if self.split_mode == "official" else "carve"
        return f"2.1-{mode}" + ("" if self.extraction == "official" else f"+{self.extraction}")

    def _path(self) -> Path:
        if self.source == "fixture":
            return fixture_path(__file__, "dataset.json")
        return local_file(self.name, "dataset.json", SOURCE_URL)

    def load(self, split: Split) -> list[Example]:
        queries: dict[str, dict[str, Any]] = json.loads(self._path().read_text(encoding="utf-8"))
        ids = sorted(queries, key=lambda q: (len(q), q))
        if self.split_mode == "official":
            chosen = official_splits(ids, DEV_SEED, dev_size=self.dev_queries)[Split(split).value]
        else:
            rest, test = carve(ids, TEST_FRACTION, TEST_SEED)
            train, dev = carve(rest, DEV_FRACTION, DEV_SEED)
            chosen = {Split.TRAIN: train, Split.DEV: dev, Split.TEST: test}[Split(split)]
        return [e for q in chosen for e in step_examples(q, queries[q])]

    def messages(self, question: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"{INSTRUCTION}\n\n{question}"}]

    def target(self, example: Example, reasoning: bool = False) -> str:
        if reasoning and example.solution:
            return f"Thought: {example.solution}\nAction: {example.answer}"
        return example.answer

    def extract(self, completion: str) -> str:
        """The last JSON object in the completion that reads as a tool call, canonicalised; '' if none
        (and, with the official rules, '' for a reply that gives a final answer)."""
        official = self.extraction == "official"
        if official and FINISH in completion:
            return ""
        read_call = _as_official_call if official else _as_call
        decoder = json.JSONDecoder()
        found: tuple[str, Any] | None = None
        start = completion.find("{")
        while start != -1:
            try:
                obj, end = decoder.raw_decode(completion, start)
            except json.JSONDecodeError:
                start = completion.find("{", start + 1)
                continue
            found = read_call(obj) or found
            start = completion.find("{", end)
        return canonical_call(*found) if found else ""

    def score(self, prediction: str, example: Example) -> float:
        """ToolAcc for one step: 1.0 when the predicted tool name is the gold one ("Tool.api" counts
        as "Tool" under the official rules, as GTA's action executor runs it)."""
        calls = self._calls(prediction, example)
        return float(calls is not None and calls[0][0] == calls[1][0])

    def arguments_match(self, prediction: str, example: Example) -> bool:
        """ArgAcc for one step: the right tool with exactly the gold arguments."""
        calls = self._calls(prediction, example)
        return calls is not None and calls[0] == calls[1]

    def _calls(self, prediction: str, example: Example) -> tuple[tuple[str, Any], tuple[str, Any]] | None:
        """(predicted, gold) calls, the predicted name resolved as the reading rules run it; None if
        either is not a call."""
        predicted, gold = _parse_call(prediction), _parse_call(example.answer)
        if predicted is None or gold is None:
            return None
        name = resolved_name(predicted[0], gold[0]) if self.extraction == "official" else predicted[0]
        return (name, predicted[1]), gold

    def aggregate(self, predictions: list[str], examples: list[Example]) -> float:
        scores = [self.score(p, e) for p, e in zip(predictions, examples, strict=True)]
        return sum(scores) / len(scores) if scores else 0.0
