"""The search benchmark's simulation drives trex's own search core, policies and sampler end to end."""
from __future__ import annotations

import pytest

from bench.search.simulate import Mode, SimConfig, simulate
from trex.tree.policy import PolicyName, PolicySettings


@pytest.mark.parametrize("policy", list(PolicyName))
def test_each_policy_completes_a_simulated_search(policy: PolicyName) -> None:
    result = simulate(SimConfig(policy=policy, nodes=20, slots=2, seed=3, settings=PolicySettings(max_children=6)))
    assert len(result.best) == 20
    assert all(a <= b for a, b in zip(result.best, result.best[1:], strict=False))     # best-so-far never drops
    assert 0.0 < result.utilization() <= 1.0


def test_async_keeps_slots_busier_than_sync_rounds() -> None:
    runs = {mode: simulate(SimConfig(nodes=40, slots=4, mode=mode, seed=1)) for mode in Mode}
    assert runs[Mode.ASYNC].utilization() > runs[Mode.SYNC].utilization() + 0.1


@pytest.mark.parametrize("numeric", ["hybrid", "sampler"])
def test_the_simulation_drives_the_numeric_sampler_through_trex_core(numeric: str) -> None:
    from trex.search.planner import Numeric

    result = simulate(SimConfig(nodes=16, slots=2, seed=5, numeric=Numeric(numeric)), keep_tree=True)
    assert len(result.best) == 16 and result.tree is not None
    origins = {n.origin for n in result.tree if n.parent_id}
    assert "sampler" in origins
    if numeric == "hybrid":
        assert origins & {"llm", "hybrid"}
