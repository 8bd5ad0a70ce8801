from dataclasses import asdict

import pytest

from trex.config import ConfigError, RunConfig, TaskConfig, resume_config
from trex.search.core import baseline_spec
from trex.tree.budget import budget_spent, device_hours
from trex.tree.records import Cost, LLMUsage, NodeStatus, RunResult
from trex.tree.store import Tree


def tree_with(seconds: list[float], tokens: int = 0) -> Tree:
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    for i, s in enumerate(seconds):
        node = root if i == 0 else tree.add(baseline_spec(), root.id, i)
        tree.record(node.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.1, cost=Cost(total_s=s)), 0.1, i)
    tree.add_usage(LLMUsage(prompt_tokens=tokens, completion_tokens=0, calls=1))
    return tree


def test_each_budget_names_itself() -> None:
    tree = tree_with([1800.0, 1800.0, 3600.0], tokens=5000)
    assert device_hours(tree) == pytest.approx(2.0)
    kw = dict(max_nodes=10, max_minutes=60, elapsed_s=0.0)
    assert budget_spent(tree, **kw) == ""
    assert budget_spent(tree, max_nodes=3, max_minutes=60, elapsed_s=0) == "max_nodes=3 reached"
    assert budget_spent(tree, max_nodes=None, max_minutes=60, elapsed_s=0) == ""   # queued nodes may start
    assert budget_spent(tree, max_nodes=10, max_minutes=1.5, elapsed_s=90) == "max_minutes=1.5 reached"
    assert budget_spent(tree, **kw, max_device_hours=2.0) == "max_device_hours=2 reached"
    assert budget_spent(tree, **kw, max_device_hours=2.5) == ""
    assert budget_spent(tree, **kw, max_llm_tokens=5000) == "max_llm_tokens=5000 reached"
    assert budget_spent(tree, **kw, max_llm_tokens=5001) == ""


def saved() -> dict:
    return asdict(RunConfig(task=TaskConfig(name="math", options={"dev_size": 50})))


def test_resume_keeps_the_saved_config_and_applies_budget_overrides() -> None:
    new = {**saved(), "resume": "runs/x"}
    new["search"] = {**new["search"], "max_nodes": 20, "seed": 99}      # seed differs but was not overridden
    cfg = resume_config(saved(), new, ["resume", "search.max_nodes"], ["math"])
    assert cfg.search.max_nodes == 20 and cfg.search.seed == 0 and cfg.task.options == {"dev_size": 50}
    assert cfg.resume == "runs/x"


def test_resume_refuses_overrides_that_change_the_search() -> None:
    new = {**saved(), "resume": "runs/x"}
    new["search"] = {**new["search"], "policy": "greedy"}
    new["task"] = {"name": "math", "options": {"dev_size": 10}, "reference_score": None}
    with pytest.raises(ConfigError) as err:
        resume_config(saved(), new, ["resume", "search.policy", "+task"], ["math"])
    assert "search.policy (saved 'uct', asked 'greedy')" in str(err.value)
    assert "task (saved" in str(err.value) and "may change only" in str(err.value)


def test_resume_accepts_the_same_task_repeated() -> None:
    new = {**saved(), "resume": "runs/x"}
    assert resume_config(saved(), new, ["+task", "resume"], ["math"]).task.name == "math"
