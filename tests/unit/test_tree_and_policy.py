import json
import math

import pytest

from trex.search.core import baseline_spec
from trex.tree.policy import Backup, PolicySettings, normalize_reward, select_uct, uct_value
from trex.tree.records import Direction, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree


def ok(score: float) -> RunResult:
    return RunResult(status=NodeStatus.SUCCEEDED, score=score)


def spec(name: str) -> ExperimentSpec:
    return ExperimentSpec(objective=f"experiment {name}", direction=Direction.LEARNING_RATE)


def small_tree() -> Tree:
    """root(0.2) -> a(0.6) -> c(0.9); root -> b(0.1)"""
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, ok(0.2), 0.2, 1)
    a = tree.add(spec("a"), root.id, 2)
    b = tree.add(spec("b"), root.id, 2)
    tree.record(a.id, ok(0.6), 0.6, 3)
    tree.record(b.id, ok(0.1), 0.1, 3)
    c = tree.add(spec("c"), a.id, 4)
    tree.record(c.id, ok(0.9), 0.9, 5)
    return tree


def test_backpropagation_sums_rewards_up_the_lineage() -> None:
    tree = small_tree()
    root, a, b, c = (tree[f"n000{i}"] for i in range(4))
    assert (root.visits, root.value_sum) == (4, pytest.approx(1.8))
    assert (a.visits, a.value_sum) == (2, pytest.approx(1.5))
    assert (b.visits, c.visits) == (1, 1)
    assert [n.id for n in tree.lineage(c.id)] == ["n0000", "n0001", "n0003"]
    assert c.depth == 2
    assert tree.best().id == c.id


def test_only_one_root() -> None:
    tree = Tree("math")
    tree.add(baseline_spec(), None, 0)
    with pytest.raises(ValueError, match="already has a root"):
        tree.add(baseline_spec(), None, 0)


def test_uct_value_matches_formula() -> None:
    tree = small_tree()
    # a: mean 0.75, parent (root) visits 4, own visits 2
    c1 = PolicySettings(exploration=1.0, backup=Backup.MEAN)
    c05 = PolicySettings(exploration=0.5, backup=Backup.MEAN)
    assert uct_value(tree, "n0001", c1) == pytest.approx(0.75 + math.sqrt(math.log(4) / 2))
    assert uct_value(tree, "n0002", c05) == pytest.approx(0.1 + 0.5 * math.sqrt(math.log(4) / 1))
    assert uct_value(tree, "n0000", c1) == pytest.approx(0.45 + math.sqrt(math.log(4) / 4))
    # max backup: the best reward seen below a node replaces the mean
    assert uct_value(tree, "n0001", PolicySettings(exploration=1.0, backup=Backup.MAX)) == pytest.approx(
        0.9 + math.sqrt(math.log(4) / 2))


def test_virtual_loss_lowers_nodes_with_children_in_flight() -> None:
    tree = small_tree()
    textbook = PolicySettings(exploration=1.0, backup=Backup.MEAN)
    before = uct_value(tree, "n0002", textbook)
    tree.add(spec("in flight"), "n0002", 6)                  # a queued child of b
    after = uct_value(tree, "n0002", textbook)
    # b: 1 real visit (0.1) + 1 virtual zero-reward visit; the root (4 visits) gains one too
    assert after == pytest.approx(0.1 / 2 + math.sqrt(math.log(5) / 2))
    assert after < before
    assert uct_value(tree, "n0002", PolicySettings(exploration=1.0, backup=Backup.MEAN, virtual_loss=0.0)) \
        == pytest.approx(before)


def test_select_uct_exploits_with_zero_c_and_explores_with_large_c() -> None:
    tree = small_tree()
    assert select_uct(tree, 0.0, max_children=3, seed=0) == "n0003"      # highest mean
    assert select_uct(tree, 10.0, max_children=3, seed=0) == "n0002"     # least visited, largest bonus
    # the cap on children removes full nodes
    assert select_uct(tree, 0.0, max_children=1, seed=0) in {"n0002", "n0003"}


def test_failed_and_pending_nodes_are_not_expandable() -> None:
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    assert select_uct(tree, 1.0, 3, 0) is None                           # root still pending
    tree.record(root.id, RunResult(status=NodeStatus.FAILED, error="x"), 0.0, 1)
    assert select_uct(tree, 1.0, 3, 0) is None


def test_normalize_reward() -> None:
    assert normalize_reward(0.5, 0.0, 1.0) == 0.5
    assert normalize_reward(None, 0.0, 1.0) == 0.0
    assert normalize_reward(30.0, 0.0, 100.0) == pytest.approx(0.3)
    assert normalize_reward(0.4, 0.0, 1.0, base=0.2, reference=0.6) == pytest.approx(0.5)
    assert normalize_reward(0.1, 0.0, 1.0, base=0.2, reference=0.6) == 0.0   # below base
    assert normalize_reward(0.9, 0.0, 1.0, base=0.2, reference=0.6) == 1.0   # beyond reference
    with pytest.raises(ValueError):
        normalize_reward(0.5, 1.0, 1.0)


def test_save_and_load_round_trip(tmp_path) -> None:
    tree = small_tree()
    tree.save(tmp_path / "tree.json")
    again = Tree.load(tmp_path / "tree.json")
    assert [n.model_dump() for n in again] == [n.model_dump() for n in tree]
    assert json.loads((tmp_path / "tree.json").read_text())["nodes"][3]["score"] == 0.9
    assert not list(tmp_path.glob(".tree.json.*"))     # no temp files left behind
