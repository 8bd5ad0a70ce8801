"""One planning step of the real SmolLM2 Researcher through llama.cpp with research tools offline:
the tool loop stays bounded, answers from the task's catalog without touching the network, and
the step ends in a schema-valid proposal reply."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_one_planning_step_with_tools_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ftbench import get_task
    from trex.agent.researcher import Researcher, parse_proposals
    from trex.agent.sources import rules_for_task
    from trex.agent.tools import ResearchTools
    from trex.config import ResearcherConfig
    from trex.llm.client import LLMClient, StructuredMode
    from trex.llm.llamacpp import LlamaCppServer, builtin_gguf
    from trex.prompts import TaskCard
    from trex.search.core import baseline_spec
    from trex.tree.records import NodeStatus, RunResult
    from trex.tree.store import Tree

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = get_task("math")
    card = TaskCard(task.name, task.metric, task.description, task.kinds, "SmolLM2-135M-Instruct", 512)
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.04), 0.04, 1)
    tools = ResearchTools(task.catalog)
    with LlamaCppServer(builtin_gguf(), "smollm2", log_path=tmp_path / "server.log") as server:
        client = LLMClient(server.base_url, "smollm2", mode=StructuredMode.LLAMACPP, max_tokens=512)
        researcher = Researcher(client, card, k=1, log_path=tmp_path / "llm-calls.jsonl", run_dir=tmp_path,
                                config=ResearcherConfig(max_tool_calls=2, brief=False), tools=tools,
                                rules=rules_for_task(task))
        started = time.monotonic()
        proposal = researcher.propose(tree, root.id, seed=0)
    calls = [json.loads(line) for line in (tmp_path / "nodes" / "n0000" / "llm-calls.jsonl").read_text().splitlines()]
    purposes = [c["purpose"] for c in calls]
    assert purposes.count("tool") <= 2 and "propose" in purposes
    assert time.monotonic() - started < 600
    assert proposal.usage.calls == len(calls)
    tool_answers = next(c for c in calls if c["purpose"] == "propose")["messages"][-1]["content"]
    if purposes.count("tool") and json.loads(calls[0]["reply"]).get("tool") != "done":
        assert "The web is unreachable" in tool_answers
    first = next(c for c in calls if c["purpose"] == "propose")["reply"]
    valid, errors = parse_proposals(first, task.kinds, known=set(), max_samples=512, parent_id=root.id)
    assert valid or errors    # a parsed reply: valid specs, or reasons (never a crash)
