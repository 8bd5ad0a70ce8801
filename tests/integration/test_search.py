"""A whole search on real local Ray and real TRL: tiny random Llama, scripted OpenAI-compatible LLM."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import reply, spec_json
from tests.wandb_offline import read_runs
from trex.config import (
    ClusterConfig,
    ExecutorConfig,
    LLMConfig,
    ModelConfig,
    RunConfig,
    SearchConfig,
    TaskConfig,
    TrackerConfig,
)
from trex.llm.scripted import ScriptedEndpoint
from trex.tree.records import LEARNING_RATES, NodeStatus
from trex.tree.store import Tree


def scripted_researcher(body: dict) -> str:
    """First expansion: one good spec and one that must fail (warm start from the base model)."""
    prompt = body["messages"][-1]["content"]
    if "refine n0000" in prompt:
        return reply(spec_json("higher learning rate", learning_rate=1e-3),
                     spec_json("warm start from root", direction="warm_start", init_from="parent"))
    return reply(spec_json("continue the best branch", direction="warm_start", init_from="parent", epochs=1),
                 spec_json("two epochs", direction="training_length", epochs=2))


@pytest.fixture(scope="module")
def search_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    from trex.runner import run_search

    runs = tmp_path_factory.mktemp("runs")
    with ScriptedEndpoint(scripted_researcher) as endpoint:
        cfg = RunConfig(
            task=TaskConfig(name="math", options={"train_size": 64, "dev_size": 16, "test_size": 16}),
            search=SearchConfig(max_nodes=4, children_per_expansion=2, max_children=2, max_concurrent=2),
            llm=LLMConfig(backend="openai", model="scripted", base_url=endpoint.base_url, max_tokens=512),
            model=ModelConfig(name_or_path=str(tiny_model)),
            executor=ExecutorConfig(eval_batch_size=8, max_new_tokens=8, logging_steps=1),   # a loss per step
            tracker=TrackerConfig(kind="wandb", mode="offline"),
            cluster=ClusterConfig(kind="local", num_cpus=2),
            run_dir=str(runs), name="it")
        outcome = run_search(cfg)
    return outcome, runs / "it", endpoint


def test_tree_holds_every_node_with_a_final_status(search_run) -> None:
    outcome, run_dir, _ = search_run
    tree = Tree.load(run_dir / "tree.json")
    assert len(tree) == 4
    assert all(n.done for n in tree)
    root = tree.root
    assert root.status is NodeStatus.SUCCEEDED and root.score is not None and root.visits == 4
    failed = [n for n in tree if n.status is NodeStatus.FAILED]
    assert len(failed) == 1 and "init_from=parent" in failed[0].result.error
    assert failed[0].reward == 0.0
    assert outcome.stop_reason.startswith("max_nodes=4")


def test_node_folders_hold_spec_result_predictions_adapter_and_log(search_run) -> None:
    _, run_dir, _ = search_run
    for node in Tree.load(run_dir / "tree.json"):
        folder = run_dir / "nodes" / node.id
        assert json.loads((folder / "spec.json").read_text())["objective"] == node.spec.objective
        assert json.loads((folder / "result.json").read_text())["status"] == node.status.value
        assert (folder / "log.txt").is_file()
        if node.status is NodeStatus.SUCCEEDED:
            rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
            assert len(rows) == 16 and {"gold", "completion", "prediction", "score"} <= rows[0].keys()
            if node.parent_id is not None:
                assert (folder / "adapter" / "adapter_config.json").is_file()
                assert node.result.cost.train_s > 0 and node.result.cost.train_samples == 32


def test_second_expansion_warm_starts_from_its_parent(search_run) -> None:
    _, run_dir, endpoint = search_run
    tree = Tree.load(run_dir / "tree.json")
    grandchildren = [n for n in tree if n.depth == 2]
    assert grandchildren, "the search should have expanded a child of the root"
    assert len(endpoint.requests) >= 2
    warm = [n for n in grandchildren if n.spec.train.init_from == "parent"]
    assert all(n.status is NodeStatus.SUCCEEDED for n in warm)


def test_summary_and_hidden_test_scores(search_run) -> None:
    _outcome, run_dir, _ = search_run
    summary = (run_dir / "summary.md").read_text()
    assert "base model (n0000)" in summary and "## Lineage of" in summary
    final = json.loads((run_dir / "final.json").read_text())
    assert final["base_test"] is not None and final["best_test"] is not None
    assert ((run_dir / "nodes" / final["best_node"] / "predictions-test.jsonl").is_file()
            or final["best_node"] == "n0000")
    assert (run_dir / "nodes" / "n0000" / "predictions-test.jsonl").is_file()


def test_the_report_is_written_with_the_finished_search(search_run) -> None:
    from tests.report_run import parse

    outcome, run_dir, _ = search_run
    _, data = parse(run_dir / "report.html")
    assert {n["id"] for n in data["nodes"]} == {n.id for n in outcome.tree}
    assert data["final"] == json.loads((run_dir / "final.json").read_text()) and data["task"] == "math"
    trained = [n for n in data["nodes"] if n["parent"] and n["status"] == "SUCCEEDED"]
    assert trained and all(n["loss"] and n["cost"]["train_samples"] > 0 for n in trained)


def test_wandb_offline_runs_were_written(search_run) -> None:
    _, run_dir, _ = search_run
    runs = read_runs(run_dir / "wandb")
    assert set(runs) == {n.id for n in Tree.load(run_dir / "tree.json")} | {"search"}
    assert {r.group for r in runs.values()} == {run_dir.name}
    assert runs["search"].summary["tree"]["nrows"] == 4 and runs["n0001"].config["parent_id"] == "n0000"
    # a trained node's run streamed its loss while it ran: from the executor's trainer, through the
    # driver's progress board (Ray), into the node's W&B run; and it carries its adapter artifact
    tree = Tree.load(run_dir / "tree.json")
    for node in (n for n in tree if n.parent_id and n.status is NodeStatus.SUCCEEDED):
        steps = [row["train/step"] for row in runs[node.id].history if "train/loss" in row]
        assert steps and steps == sorted(steps), (node.id, runs[node.id].history)
        assert [a.name for a in runs[node.id].artifacts] == [f"adapter-{runs[node.id].id}"]


def test_time_budget_with_cancel_stops_in_flight_nodes(tiny_model: Path, tmp_path: Path) -> None:
    from trex.runner import run_search

    calls = iter(range(1000))

    def slow(body: dict) -> str:   # new long experiments every call, so the search runs until the budget
        i = next(calls)
        lr = LEARNING_RATES[i % len(LEARNING_RATES)]
        return reply(spec_json(f"long {i}", epochs=6, learning_rate=lr, lora_r=8 * (1 + i // 10)),
                     spec_json(f"longer {i}", epochs=10, learning_rate=lr, lora_r=8 * (1 + i // 10)))

    with ScriptedEndpoint(slow) as endpoint:
        cfg = RunConfig(
            task=TaskConfig(name="math", options={"train_size": 128, "dev_size": 8, "test_size": 8}),
            search=SearchConfig(max_nodes=10, max_minutes=0.4, on_budget="cancel", children_per_expansion=2,
                                max_children=2, max_concurrent=2, policy="greedy"),
            llm=LLMConfig(backend="openai", model="scripted", base_url=endpoint.base_url),
            model=ModelConfig(name_or_path=str(tiny_model)),
            executor=ExecutorConfig(eval_batch_size=8, max_new_tokens=4),
            tracker=TrackerConfig(kind="none"), cluster=ClusterConfig(num_cpus=2), run_dir=str(tmp_path), name="b")
        outcome = run_search(cfg)
    assert outcome.stop_reason == "max_minutes=0.4 reached"
    tree = Tree.load(tmp_path / "b" / "tree.json")
    cancelled = [n for n in tree if n.result and (n.result.error or "").startswith("cancelled: max_minutes")]
    assert cancelled and all(n.status is NodeStatus.FAILED for n in cancelled)
    assert all(n.done or (n.status is NodeStatus.PENDING and n.started_at is None) for n in tree)   # none left running
    assert "Stopped: max_minutes=0.4 reached" in (tmp_path / "b" / "summary.md").read_text()


def test_a_timed_out_researcher_call_costs_an_expansion_not_the_search(tiny_model: Path, tmp_path: Path) -> None:
    import time

    from trex.runner import run_search

    def slow_then_fine(body: dict) -> str:
        if len(endpoint.requests) <= 3:          # the first call and its client retries time out
            time.sleep(2.5)
        return reply(spec_json("after the outage", learning_rate=1e-3))

    with ScriptedEndpoint(slow_then_fine) as endpoint:
        cfg = RunConfig(
            task=TaskConfig(name="math", options={"train_size": 64, "dev_size": 8, "test_size": 8}),
            search=SearchConfig(max_nodes=2, children_per_expansion=1, max_concurrent=1),
            llm=LLMConfig(backend="openai", model="scripted", base_url=endpoint.base_url, timeout_s=1.0),
            model=ModelConfig(name_or_path=str(tiny_model)),
            executor=ExecutorConfig(eval_batch_size=8, max_new_tokens=4),
            tracker=TrackerConfig(kind="none"), cluster=ClusterConfig(num_cpus=2), run_dir=str(tmp_path), name="t")
        outcome = run_search(cfg)
    tree = Tree.load(tmp_path / "t" / "tree.json")
    assert len(tree) == 2 and tree["n0001"].spec.objective == "after the outage"
    assert outcome.stop_reason.startswith("max_nodes")


def test_export_writes_a_loadable_model_and_a_recipe_that_trains_it_again(search_run, tiny_model: Path,
                                                                           tmp_path: Path) -> None:
    """`trex export` (adapter, then --merge) and `trex reproduce`: the recipe trains the same weights."""
    import torch
    import yaml
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from trex import cli

    outcome, run_dir, _ = search_run
    node = max((n for n in outcome.tree if n.status is NodeStatus.SUCCEEDED and n.parent_id),
               key=lambda n: n.depth)            # the deepest: a warm start continues its parent's adapter
    out, merged = tmp_path / "adapter", tmp_path / "merged"
    assert cli.main(["export", str(run_dir), "--node", node.id, "--out", str(out)]) == 0
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json", "README.md",
            "recipe.yaml"} <= {p.name for p in out.iterdir()}
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    warm = node.spec.train.init_from == "parent" and node.depth > 1
    assert [s["node"] for s in recipe["steps"]] == ([node.parent_id] if warm else []) + [node.id]
    assert f"base_model: {tiny_model}" in (out / "README.md").read_text()
    assert cli.main(["export", str(run_dir), "--node", node.id, "--out", str(merged), "--merge"]) == 0

    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(out))(ids).logits
        whole = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
    assert torch.allclose(tuned, whole, atol=1e-4)

    assert cli.main(["reproduce", str(out / "recipe.yaml"), "--out", str(tmp_path / "again")]) == 0
    again = load_file(tmp_path / "again" / node.id / "adapter" / "adapter_model.safetensors")
    original = load_file(out / "adapter_model.safetensors")
    assert again.keys() == original.keys()
    assert all(torch.allclose(again[k], original[k], atol=1e-5) for k in original), "the recipe trained other weights"
