"""Every prompt trex sends, rendered from one fixed hand-built tree and compared with a file
under tests/unit/snapshots/, so a prompt change shows in review. Regenerate with
TREX_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_prompt_snapshots.py."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import spec_json
from trex.agent.notes import Insight, ResearchBrief, ToolNote
from trex.prompts import TaskCard, render_propose, render_retry, render_rewrite, render_score, render_synthesize
from trex.prompts.research import ProposeExtras, extras_lines, render_brief, render_insights, render_tool_step
from trex.search.core import baseline_spec
from trex.tree.diagnosis import diagnose
from trex.tree.memory import build_memory, summarize
from trex.tree.records import ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree

SNAPSHOTS = Path(__file__).parent / "snapshots"
CARD = TaskCard("math", "exact_match", "Solve arithmetic word problems; answer with the number.",
                ("add", "subtract"), "tiny-llama", 1000)


def fixed_tree() -> Tree:
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0.0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.25), 0.0, 1.0)
    a = tree.add(ExperimentSpec.model_validate(spec_json("raise the learning rate", learning_rate=1e-3)), root.id, 2.0)
    tree.record(a.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.5), 0.5, 3.0)
    b = tree.add(ExperimentSpec.model_validate(spec_json("two epochs", direction="training_length", epochs=2)),
                 root.id, 4.0)
    tree.record(b.id, RunResult(status=NodeStatus.FAILED, error="RuntimeError: out of memory"), 0.0, 5.0)
    rows = [{"id": f"e{i}", "kind": k, "question": f"Ann has {i} apples and buys {i}. How many?", "gold": str(2 * i),
             "completion": "", "prediction": "" if i == 1 else str(i), "score": float(i == 0)}
            for i, k in enumerate(("add", "add", "subtract"))]
    tree.set_diagnosis(a.id, diagnose(rows, parent=(root.id, [{**r, "score": 0.0} for r in rows])))
    return tree


EXTRAS = ProposeExtras(
    brief=ResearchBrief(goals=["Answer with the exact integer."], risks=["Overfitting 64 examples."],
                        directions=["Try the reasoning answer format."]),
    insights=(Insight(lesson="A higher learning rate helped.", node_ids=["n0001"]),
              Insight(lesson="Two epochs ran out of memory.", node_ids=["n0002"], source="run 2024-old")),
    notes=(ToolNote(tool="dataset_search", query="arithmetic", answer="The web is unreachable (offline mode)."),))
EXAMPLES = [{"question": "2+3?", "answer": "5", "solution": "2+3=5"}]


def prompts() -> dict[str, list[dict[str, str]]]:
    tree = fixed_tree()
    memory = build_memory(tree, "n0001").render()
    propose = render_propose(CARD, memory, tree["n0001"], tree.children("n0001"), 2, extras_lines(EXTRAS))
    return {
        "propose": propose,
        "propose_memory_none": render_propose(CARD, "", tree["n0001"], [], 2),
        "retry": render_retry(propose, '{"experiments": []}', ["experiment 1: data.sources[0]: file source "
                                                               "'x.jsonl' does not exist on this machine"], 1),
        "brief": render_brief(CARD),
        "insights": render_insights(CARD, [summarize(tree, n) for n in tree if n.done], list(EXTRAS.insights[:1])),
        "tool_step": render_tool_step(CARD, memory, "n0001", list(EXTRAS.notes), 2),
        "synthesize": render_synthesize(CARD.description, EXAMPLES, 4, "carrying"),
        "rewrite": render_rewrite(CARD.description, EXAMPLES),
        "score": render_score(CARD.description, EXAMPLES),
    }


def as_text(messages: list[dict[str, str]]) -> str:
    return "".join(f"=== {m['role']} ===\n{m['content']}\n" for m in messages)


@pytest.mark.parametrize("name", sorted(prompts()))
def test_prompt_matches_its_snapshot(name: str) -> None:
    text = as_text(prompts()[name])
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("TREX_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}; create it with TREX_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"prompt {name!r} changed; review it and rerun with TREX_UPDATE_SNAPSHOTS=1"


def test_prompts_are_deterministic_and_json_clean() -> None:
    assert prompts() == prompts()
    assert json.dumps(prompts())
