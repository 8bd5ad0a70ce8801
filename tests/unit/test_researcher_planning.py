"""The Researcher's planning steps against a scripted endpoint: brief, insights, research tools,
near-duplicates, memory off; and the LLM client's retries, tool_call mode, cost and call logs."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from trex.agent.reflect import parse_insights
from trex.agent.researcher import Researcher, parse_proposals
from trex.agent.similarity import spec_similarity
from trex.agent.tools import ResearchTools, Tool
from trex.config import ResearcherConfig
from trex.llm.client import LLMClient, Prices, StructuredMode
from trex.llm.scripted import ScriptedEndpoint, ScriptedHTTPError
from trex.prompts import TaskCard
from trex.search.core import baseline_spec
from trex.tree.records import ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree

KINDS = ("add", "subtract")
CARD = TaskCard("math", "exact_match", "Arithmetic.", KINDS, "tiny")


def tree_of(n: int = 1) -> Tree:
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 1)
    for i in range(n - 1):
        node = tree.add(ExperimentSpec.model_validate(spec_json(f"child {i}", epochs=1 + i)), root.id, 2)
        tree.record(node.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.2 + i / 10), 0.2, 3)
    return tree


def spec(**train: object) -> ExperimentSpec:
    return ExperimentSpec.model_validate(spec_json("some spec", **train))


def test_similarity_rejects_only_near_identical_specs() -> None:
    a = spec()
    assert spec_similarity(a, a) == 1.0
    assert (spec_similarity(a, spec(lora_dropout=0.01)) < 0.98
            < spec_similarity(spec(lora_dropout=0.05), spec(lora_dropout=0.055)))
    assert spec_similarity(a, spec(learning_rate=1e-3)) < 0.98 and spec_similarity(a, spec(method="dpo")) < 0.98
    warm = spec(init_from="parent")
    assert spec_similarity(warm, warm, "n1", "n2") == 0.0
    existing = [("n0003", spec(lora_dropout=0.05), "n0000")]
    specs, errors = parse_proposals(reply(spec_json("xyz", lora_dropout=0.052)), KINDS, set(), parent_id="n0000",
                                    existing=existing, threshold=0.98)
    assert specs == [] and "nearly the same settings as n0003" in errors[0]


def test_client_retries_transient_errors_with_backoff(caplog) -> None:
    statuses = [429, 503]

    def flaky(body: dict) -> str:
        if statuses:
            raise ScriptedHTTPError(statuses.pop(0))
        return "{}"

    with ScriptedEndpoint(flaky) as endpoint:
        client = LLMClient(endpoint.base_url, "scripted", max_retries=2, backoff_s=0.05)
        started = time.monotonic()
        assert client.complete_json([{"role": "user", "content": "hi"}], {"type": "object"}).text == "{}"
    assert len(endpoint.requests) == 3 and time.monotonic() - started >= 0.15   # 0.05 + 0.1
    assert caplog.text.count("retry") == 2


def test_client_gives_up_after_max_retries_and_does_not_retry_client_errors() -> None:
    import openai

    def always(status: int):
        def respond(body: dict) -> str:
            raise ScriptedHTTPError(status)
        return respond

    with ScriptedEndpoint(always(500)) as endpoint:
        with pytest.raises(openai.InternalServerError):
            LLMClient(endpoint.base_url, "scripted", max_retries=1, backoff_s=0.01).complete_json([], {})
    assert len(endpoint.requests) == 2
    with ScriptedEndpoint(always(400)) as endpoint:
        with pytest.raises(openai.BadRequestError):
            LLMClient(endpoint.base_url, "scripted", max_retries=3, backoff_s=0.01).complete_json([], {})
    assert len(endpoint.requests) == 1


def test_tool_call_mode_forces_a_function_carrying_the_json_and_prices_the_call() -> None:
    with ScriptedEndpoint(lambda body: '{"a": 1}') as endpoint:
        client = LLMClient(endpoint.base_url, "scripted", mode=StructuredMode.TOOL_CALL,
                           prices=Prices(per_1k_prompt=1.0, per_1k_completion=2.0))
        out = client.complete_json([{"role": "user", "content": "one two three"}], {"type": "object"}, name="answer")
    body = endpoint.requests[0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "answer"}}
    assert body["tools"][0]["function"]["parameters"] == {"type": "object"} and "response_format" not in body
    assert json.loads(out.text) == {"a": 1}
    assert out.usage.cost_usd == pytest.approx((3 * 1.0 + 2 * 2.0) / 1000)
    assert Prices().cost(10, 10) is None and (out.usage + out.usage).cost_usd == pytest.approx(2 * out.usage.cost_usd)


def test_calls_are_logged_beside_the_node_without_the_api_key(tmp_path: Path) -> None:
    key = "sk-secret-key-123456"
    with ScriptedEndpoint(lambda body: f"echo {key} " + reply(spec_json("a spec", epochs=2))) as endpoint:
        client = LLMClient(endpoint.base_url, "scripted", api_key=key)
        researcher = Researcher(client, CARD, k=1, log_path=tmp_path / "llm-calls.jsonl", run_dir=tmp_path,
                                config=ResearcherConfig(brief=False))
        researcher.propose(tree_of(), "n0000", seed=0)
    node_log = tmp_path / "nodes" / "n0000" / "llm-calls.jsonl"
    assert node_log.is_file() and (tmp_path / "llm-calls.jsonl").read_text() == node_log.read_text()
    assert key not in node_log.read_text() and "<redacted>" in node_log.read_text()
    assert json.loads(node_log.read_text().splitlines()[0])["purpose"] == "propose"


def test_brief_is_written_once_and_shown_in_propose_prompts(tmp_path: Path) -> None:
    brief = {"goals": ["get sums right"], "risks": ["overfitting"], "directions": ["reasoning format"]}

    def respond(body: dict) -> str:
        return (json.dumps(brief) if "research brief" in body["messages"][-1]["content"]
                else reply(spec_json("a spec", epochs=2)))

    with ScriptedEndpoint(respond) as endpoint:
        researcher = Researcher(LLMClient(endpoint.base_url, "scripted"), CARD, k=1, run_dir=tmp_path)
        assert researcher.start("n0000", seed=0).calls == 1
        researcher.propose(tree_of(), "n0000", seed=0)
        again = Researcher(LLMClient(endpoint.base_url, "scripted"), CARD, k=1, run_dir=tmp_path)
        assert again.start("n0000", seed=0).calls == 0 and again.brief == researcher.brief   # resume: no new call
    assert json.loads((tmp_path / "brief.json").read_text()) == brief
    assert "- risk: overfitting" in endpoint.requests[1]["messages"][-1]["content"]


def test_insights_every_n_nodes_cite_existing_nodes_and_carry_over(tmp_path: Path) -> None:
    lessons = {"insights": [{"lesson": "More epochs help.", "nodes": ["n0001", "n0099"]},
                            {"lesson": "Invented.", "nodes": ["n0042"]}]}
    tree = tree_of(2)
    with ScriptedEndpoint(lambda body: json.dumps(lessons)) as endpoint:
        researcher = Researcher(LLMClient(endpoint.base_url, "scripted"), CARD, k=1, run_dir=tmp_path,
                                config=ResearcherConfig(insights_every=3))
        assert researcher.on_finished(tree, "n0001", seed=0).usage.calls == 0      # 2 finished
        assert not (tmp_path / "insights.json").exists()
        tree.add(spec(epochs=5), "n0000", 4)
        tree.record("n0002", RunResult(status=NodeStatus.SUCCEEDED, score=0.3), 0.3, 5)
        assert researcher.on_finished(tree, "n0002", seed=0).usage.calls == 1      # 3 finished
        assert researcher.on_finished(tree, "n0002", seed=0).usage.calls == 0      # not twice for one count
    assert "n0001" in endpoint.requests[0]["messages"][-1]["content"]
    book = json.loads((tmp_path / "insights.json").read_text())
    assert [(i["lesson"], i["node_ids"]) for i in book["insights"]] == [("More epochs help.", ["n0001"])]
    later = Researcher(LLMClient("http://127.0.0.1:9/v1", "x"), CARD, k=1,
                       config=ResearcherConfig(insights_from=str(tmp_path)))
    assert later.insights()[0].source == f"run {tmp_path.name}"
    kept, dropped = parse_insights("not json", {"n0001"}, 3)
    assert kept == [] and dropped


def test_tool_loop_is_bounded_and_answers_offline_from_the_catalog(tmp_path: Path) -> None:
    steps = [{"tool": "dataset_search", "query": "arithmetic word problems"},
             {"tool": "literature_search", "query": "LoRA learning rate"},
             {"tool": "dataset_rows", "query": "openai/gsm8k"}, {"tool": "done", "query": ""}]

    def respond(body: dict) -> str:
        if "tool call(s) left" in body["messages"][-1]["content"]:
            return json.dumps(steps[sum("tool call(s) left" in r["messages"][-1]["content"]
                                        for r in endpoint.requests) - 1])
        return reply(spec_json("after research", epochs=2))

    tools = ResearchTools("- `task:math`: generated arithmetic problems.\n- `openai/gsm8k`: grade-school math.",
                          offline=False)
    tools._online = lambda tool, query: (_ for _ in ()).throw(OSError("network unreachable"))  # type: ignore
    with ScriptedEndpoint(respond) as endpoint:
        researcher = Researcher(LLMClient(endpoint.base_url, "scripted"), CARD, k=1, tools=tools,
                                config=ResearcherConfig(max_tool_calls=2))
        proposal = researcher.propose(tree_of(), "n0000", seed=0)
    assert [s.objective for s in proposal.specs] == ["after research"] and proposal.usage.calls == 3
    final = endpoint.requests[-1]["messages"][-1]["content"]
    assert "The web is unreachable" in final and "dataset_search('arithmetic word problems')" in final
    assert "gsm8k" in tools.call(Tool.DATASET_SEARCH, "gsm8k")


def test_offline_the_catalog_is_shown_without_spending_llm_calls_on_tools() -> None:
    tools = ResearchTools("- `task:math`: generated arithmetic problems.")
    assert tools.offline                               # HF_HUB_OFFLINE=1 in tests: no network touched
    with ScriptedEndpoint(lambda body: reply(spec_json("from the catalog", epochs=2))) as endpoint:
        researcher = Researcher(LLMClient(endpoint.base_url, "scripted"), CARD, k=1, tools=tools,
                                config=ResearcherConfig(max_tool_calls=3))
        proposal = researcher.propose(tree_of(), "n0000", seed=0)
    assert proposal.usage.calls == 1 and len(endpoint.requests) == 1
    assert "generated arithmetic problems" in endpoint.requests[0]["messages"][-1]["content"]


def test_memory_none_leaves_the_tree_out_of_the_prompt() -> None:
    with ScriptedEndpoint(lambda body: reply(spec_json("a spec", epochs=3))) as endpoint:
        researcher = Researcher(LLMClient(endpoint.base_url, "scripted"), CARD, k=1,
                                config=ResearcherConfig(memory="none"))
        researcher.propose(tree_of(3), "n0001", seed=0)
    prompt = endpoint.requests[0]["messages"][-1]["content"]
    assert "What the search has tried so far" not in prompt and "Trajectory" not in prompt


def test_a_proposal_inherits_the_data_and_training_settings_it_leaves_out() -> None:
    import json

    from trex.search.core import baseline_spec

    parent = baseline_spec(512)                      # 256 examples, 1 epoch, lr 5e-4
    text = json.dumps({"experiments": [
        {"objective": "more epochs", "direction": "training_length", "train": {"epochs": 3}},
        {"objective": "only prose", "direction": "learning_rate"}]})
    specs, errors = parse_proposals(text, KINDS, set(), parent_id="n0000", parent=parent)
    assert not errors
    longer, same = specs
    assert (longer.train.epochs, longer.train.learning_rate, longer.data.max_samples) == (3, 5e-4, 256)
    assert same.data == parent.data and same.train == parent.train
    alone, _ = parse_proposals(text, KINDS, set())          # no parent: schema defaults, as before
    assert alone[1].data.max_samples == 128
