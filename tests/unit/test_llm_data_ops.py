"""The LLM data operators (synthesize, llm_score) over a real HTTP OpenAI-compatible endpoint."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset

from ftbench import get_task
from trex.data.llm_ops import DataLLM, Meter, llm_score, synthesize
from trex.data.ops import RecipeError
from trex.data.recipe import build_sft_dataset, recipe_key
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import DataRecipe, LLMScoreOp, SynthesizeOp

TASK = get_task("math", train_size=120, dev_size=10, test_size=10)


def rows(n: int) -> Dataset:
    return Dataset.from_list([{"question": f"What is {i} + 1?", "answer": str(i + 1), "solution": f"{i} + 1 = {i + 1}.",
                               "kind": "add", "source": "t"} for i in range(n)])


def new_examples(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    assert "NEW examples" in prompt
    calls = new_examples.calls = getattr(new_examples, "calls", 0) + 1
    return json.dumps({"examples": [
        {"question": f"Sam has {calls} pens and buys 2 more. How many pens?", "answer": str(calls + 2),
         "solution": "."},
        {"question": "What is 0 + 1?", "answer": "1", "solution": ""},      # already in the data
        {"question": "A question with no answer", "answer": " ", "solution": ""},
        {"question": f"Mia has {calls} cups and breaks one. How many are left?", "answer": str(calls - 1),
         "solution": "."}]})


def test_synthesize_adds_valid_new_rows_and_meters_the_calls() -> None:
    new_examples.calls = 0
    with ScriptedEndpoint(new_examples) as server:
        client = DataLLM(server.base_url, "scripted").client()
        meter = Meter()
        out = synthesize(rows(5), SynthesizeOp(count=5, focus="shopping"), client, "Arithmetic.", 0, meter)
    added = out.select(range(5, len(out)))
    assert len(added) == 5 and set(added["source"]) == {"llm:new"}
    assert "What is 0 + 1?" not in added["question"] and all(a.strip() for a in added["answer"])
    assert meter.usage.calls == 3 and meter.usage.completion_tokens > 0    # 2 valid rows per call
    assert "Focus: shopping" in server.requests[0]["messages"][-1]["content"]


def test_rewrite_keeps_each_answer() -> None:
    def rewrite(body: dict[str, Any]) -> str:
        shown = [json.loads(line) for line in body["messages"][-1]["content"].splitlines() if line.startswith("{")]
        return json.dumps({"questions": [f"Tell me: {r['question']}" for r in shown]})

    with ScriptedEndpoint(rewrite) as server:
        out = synthesize(rows(6), SynthesizeOp(mode="rewrite", count=3), DataLLM(server.base_url, "scripted").client(),
                         "Arithmetic.", 1, Meter())
    added = out.select(range(6, len(out))).to_list()
    assert len(added) == 3
    for row in added:
        i = int(row["question"].split("What is ")[1].split(" ")[0])
        assert (row["question"].startswith("Tell me: ") and row["answer"] == str(i + 1)
                and row["source"] == "llm:rewrite")


def test_synthesize_that_never_yields_a_valid_row_fails_the_recipe() -> None:
    with ScriptedEndpoint(lambda body: "not json at all") as server:
        with pytest.raises(RecipeError, match=r"synthesize: the LLM wrote no valid new example in 2 calls \(count=3\)"):
            synthesize(rows(4), SynthesizeOp(count=3), DataLLM(server.base_url, "scripted").client(), "d", 0, Meter())


def test_llm_score_keeps_well_rated_rows_and_unreadable_batches() -> None:
    def rate(body: dict[str, Any]) -> str:
        shown = [json.loads(line) for line in body["messages"][-1]["content"].splitlines() if line.startswith("{")]
        if "What is 8 + 1?" in [r["question"] for r in shown]:
            return '{"scores": [5]}'                                   # wrong length: batch kept unrated
        return json.dumps({"scores": [5 if int(r["answer"]) % 2 == 0 else 1 for r in shown]})

    with ScriptedEndpoint(rate) as server:
        meter = Meter()
        out = llm_score(rows(12), LLMScoreOp(min_score=3, max_examples=12), DataLLM(server.base_url, "s").client(),
                        "d", 0, meter)
    kept = [int(a) for a in out["answer"]]
    assert kept == [2, 4, 6, 8, 9, 10, 11, 12]      # first batch of 8 filtered (2-8); the second kept unrated (9-12)
    assert meter.usage.calls == 2


def test_llm_score_caps_the_rows_it_keeps() -> None:
    with ScriptedEndpoint(lambda body: json.dumps({"scores": [5] * 8})) as server:
        out = llm_score(rows(30), LLMScoreOp(max_examples=8), DataLLM(server.base_url, "s").client(), "d", 0, Meter())
    assert len(out) == 8


def test_recipe_with_an_llm_op_needs_an_endpoint_and_caches_by_model(tmp_path: Path) -> None:
    recipe = DataRecipe(max_samples=16, ops=[SynthesizeOp(count=2)])
    with pytest.raises(RecipeError, match="synthesize: needs the agent LLM endpoint"):
        build_sft_dataset(TASK, recipe, 0, tmp_path)
    new_examples.calls = 0
    with ScriptedEndpoint(new_examples) as server:
        llm = DataLLM(server.base_url, "scripted")
        first = build_sft_dataset(TASK, recipe, 0, tmp_path, llm)
        again = build_sft_dataset(TASK, recipe, 0, tmp_path, llm)
    assert not first.cached and first.llm_usage.calls == 1 and first.counts["synthesize[0]"] == 122
    assert again.cached and again.llm_usage.calls == 0
    assert recipe_key(TASK, recipe, 0, llm) != recipe_key(TASK, recipe, 0, DataLLM(server.base_url, "other"))
    assert recipe_key(TASK, DataRecipe(), 0, llm) == recipe_key(TASK, DataRecipe(), 0, DataLLM("x", "other"))


def test_the_per_node_token_budget_stops_the_calls() -> None:
    new_examples.calls = 0
    with ScriptedEndpoint(new_examples) as server:
        meter = Meter(max_tokens=1)          # spent by the first call
        out = synthesize(rows(5), SynthesizeOp(count=40), DataLLM(server.base_url, "s").client(), "d", 0, meter)
    assert meter.usage.calls == 1 and meter.exhausted and len(out) == 5 + 2
