"""Every policy must pass these: the contract the driver relies on."""
from __future__ import annotations

import random

import pytest

from trex.search.core import baseline_spec
from trex.tree.policy import PolicyName, PolicySettings, expandable, select
from trex.tree.records import Direction, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree

POLICIES = list(PolicyName)


def random_tree(seed: int, size: int = 40) -> Tree:
    """A tree grown at random, with failures and unfinished nodes."""
    rng = random.Random(seed)
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 1)
    for i in range(1, size):
        parents = [n.id for n in tree if n.status is NodeStatus.SUCCEEDED and tree.n_children(n.id) < 4]
        node = tree.add(ExperimentSpec(objective=f"experiment {i}", direction=Direction.LEARNING_RATE),
                        rng.choice(parents), float(i))
        roll = rng.random()
        if roll < 0.15:
            tree.record(node.id, RunResult(status=NodeStatus.FAILED, error="boom"), 0.0, i + 0.5)
        elif roll < 0.85:
            score = rng.random()
            tree.record(node.id, RunResult(status=NodeStatus.SUCCEEDED, score=score), score, i + 0.5)
    return tree


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("seed", range(5))
def test_returns_an_expandable_node(policy: PolicyName, seed: int) -> None:
    tree = random_tree(seed)
    settings = PolicySettings(max_children=4)
    chosen = select(policy, tree, settings, seed)
    assert chosen in expandable(tree, 4)
    assert tree[chosen].status is NodeStatus.SUCCEEDED


@pytest.mark.parametrize("policy", POLICIES)
def test_deterministic_for_a_seed(policy: PolicyName) -> None:
    tree = random_tree(7)
    picks = {select(policy, tree, PolicySettings(max_children=4), 3) for _ in range(5)}
    assert len(picks) == 1


@pytest.mark.parametrize("policy", POLICIES)
def test_none_when_nothing_can_be_expanded(policy: PolicyName) -> None:
    tree = Tree("math")
    assert select(policy, tree, PolicySettings(), 0) is None
    root = tree.add(baseline_spec(), None, 0)
    assert select(policy, tree, PolicySettings(), 0) is None            # root not evaluated yet
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.2), 0.2, 1)
    assert select(policy, tree, PolicySettings(), 0) == root.id
    for i in range(2):
        tree.add(ExperimentSpec(objective=f"child {i}", direction=Direction.MORE_DATA), root.id, 2)
    assert select(policy, tree, PolicySettings(max_children=2), 0) is None   # cap reached by queued children


@pytest.mark.parametrize("policy", POLICIES)
def test_never_selects_failed_or_unfinished_nodes(policy: PolicyName) -> None:
    for seed in range(10):
        tree = random_tree(seed)
        chosen = select(policy, tree, PolicySettings(max_children=10), seed)
        assert tree[chosen].status not in (NodeStatus.FAILED, NodeStatus.PENDING, NodeStatus.RUNNING)


def test_greedy_takes_the_best_and_sequential_the_latest() -> None:
    tree = random_tree(3)
    s = PolicySettings(max_children=100)
    done = [n for n in tree if n.status is NodeStatus.SUCCEEDED]
    assert select(PolicyName.GREEDY, tree, s, 0) == max(done, key=lambda n: n.score).id
    assert select(PolicyName.SEQUENTIAL, tree, s, 0) == max(done, key=lambda n: n.finished_at).id


def test_random_covers_the_candidates() -> None:
    tree = random_tree(4)
    s = PolicySettings(max_children=100)
    picks = {select(PolicyName.RANDOM, tree, s, seed) for seed in range(300)}
    assert picks == set(expandable(tree, 100))


@pytest.mark.parametrize("seed", range(8))
def test_vectorized_uct_picks_the_best_scalar_uct_value(seed: int) -> None:
    from trex.tree.policy import Backup, uct_value

    tree = random_tree(seed, size=60)
    for settings in (PolicySettings(max_children=4), PolicySettings(max_children=4, backup=Backup.MAX),
                     PolicySettings(max_children=4, exploration=0.2, virtual_loss=0.0)):
        chosen = select(PolicyName.UCT, tree, settings, seed)
        best = max(uct_value(tree, nid, settings) for nid in expandable(tree, 4))
        assert uct_value(tree, chosen, settings) == pytest.approx(best)
