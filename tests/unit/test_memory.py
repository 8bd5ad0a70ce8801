"""The Researcher's view of the tree, on hand-built trees."""
from __future__ import annotations

from trex.search.core import baseline_spec
from trex.tree.memory import build_memory, estimate_tokens, spec_diff
from trex.tree.records import Direction, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree


def child(base: ExperimentSpec, objective: str, **train: object) -> ExperimentSpec:
    return base.model_copy(update={"objective": objective, "direction": Direction.LEARNING_RATE,
                                   "train": base.train.model_copy(update=train)})


# The trees below start from lr 2e-4 and 1 epoch (not the root template's), as their diffs say.


def built() -> Tree:
    """root 0.10 -> a 0.30 -> c 0.50 (target) ; a -> d 0.20 ; root -> b FAILED ; root -> e 0.60"""
    tree = Tree("math")
    template = baseline_spec()
    root = tree.add(template.model_copy(update={"train": template.train.model_copy(update={"learning_rate": 2e-4,
                                                                                          "epochs": 1})}), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 1)
    a = tree.add(child(root.spec, "raise lr", learning_rate=5e-4), root.id, 2)
    tree.record(a.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.3), 0.3, 3)
    b = tree.add(child(root.spec, "huge lr", learning_rate=2e-3, epochs=5), root.id, 2)
    tree.record(b.id, RunResult(status=NodeStatus.FAILED, error="RuntimeError: loss is NaN\ntrace"), 0.0, 4)
    c = tree.add(child(a.spec, "two epochs", epochs=2), a.id, 5)
    tree.record(c.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.5), 0.5, 6)
    d = tree.add(child(a.spec, "rank 64", lora_r=64), a.id, 5)
    tree.record(d.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.2), 0.2, 7)
    e = tree.add(child(root.spec, "three epochs", epochs=3), root.id, 2)
    tree.record(e.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.6), 0.6, 8)
    return tree


def test_spec_diff_names_only_what_changed() -> None:
    tree = built()
    assert spec_diff(tree["n0003"].spec, tree["n0001"].spec) == "epochs 1->2"
    assert spec_diff(tree["n0002"].spec, tree["n0000"].spec) == "learning_rate 0.0002->0.002, epochs 1->5"
    assert spec_diff(tree["n0001"].spec, tree["n0001"].spec) == "same settings"
    assert "learning_rate=0.0002" in spec_diff(tree["n0000"].spec, None)


def test_trajectory_siblings_and_key_nodes() -> None:
    memory = build_memory(built(), "n0003")
    assert [line.split()[1] for line in memory.trajectory] == ["n0000", "n0001", "n0003"]
    assert "epochs 1->2 -> dev 0.500 (+0.200 vs parent)" in memory.trajectory[-1]
    assert [line.split()[1] for line in memory.siblings] == ["n0004"]
    key = " ".join(memory.key_nodes)
    assert "n0005" in key and "+0.500 vs parent" in key          # the largest gain elsewhere
    assert "n0002" in key and "FAILED: RuntimeError: loss is NaN" in key and "trace" not in key
    text = memory.render()
    assert text.index("Trajectory") < text.index("Siblings") < text.index("Key results")


def test_trimmed_to_the_token_budget_keeping_root_and_last_steps() -> None:
    tree = built()
    spec = tree["n0003"].spec
    parent = "n0003"
    for i in range(30):                                   # a long chain below c
        node = tree.add(child(spec, f"step {i}", epochs=1 + i % 3, lora_r=8 + i), parent, 10 + i)
        tree.record(node.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.5), 0.5, 10.5 + i)
        parent, spec = node.id, node.spec
    full = build_memory(tree, parent, budget_tokens=100_000)
    small = build_memory(tree, parent, budget_tokens=300)
    assert full.omitted == 0 and small.omitted > 0
    assert sum(estimate_tokens(x) for x in small.trajectory + small.siblings + small.key_nodes) <= 300
    assert small.trajectory[0].split()[1] == "n0000" and small.trajectory[-1].split()[1] == parent
    assert small.key_nodes == () and f"{small.omitted} more experiments omitted" in small.render()


def test_unfinished_nodes_are_shown_as_such() -> None:
    tree = built()
    tree.add(child(tree["n0003"].spec, "queued one", epochs=3), "n0001", 20)
    memory = build_memory(tree, "n0003")
    assert any("-> pending" in line for line in memory.siblings)
