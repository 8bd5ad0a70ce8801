"""Multi-fidelity promotion (search.fidelity=asha): the rungs, ASHA's rule, the training stream a
rung cuts, and the core promoting nodes by continuing their own adapters. No Ray, milliseconds."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.test_search_core import FakePool, dev_score, make, run
from trex.config import SearchConfig
from trex.search.contracts import Job
from trex.search.core import baseline_spec
from trex.search.fidelity import Rungs, dev_subset, promotable, segment_rows
from trex.tree.memory import summarize
from trex.tree.records import Cost, NodeStatus, RunResult
from trex.tree.store import Tree


def test_rungs_grow_by_eta_up_to_the_whole_spec() -> None:
    assert Rungs(eta=3, min_fidelity=1 / 3).fractions == (0.333333, 1.0)
    rungs = Rungs(eta=2, min_fidelity=0.25, proxy_dev_fraction=0.4)
    assert rungs.fractions == (0.25, 0.5, 1.0) and rungs.top == 2
    assert [rungs.segment(r) for r in range(3)] == [(0.0, 0.25), (0.25, 0.5), (0.5, 1.0)]
    assert [rungs.dev_fraction(r) for r in range(3)] == [0.4, 0.4, 1.0]
    assert Rungs.of(SearchConfig()) is None
    for bad in ({"eta": 1}, {"min_fidelity": 1.0}, {"proxy_dev_fraction": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Rungs(**bad)


def test_the_rungs_of_one_node_cut_one_stream_without_overlap() -> None:
    rungs = Rungs(eta=3, min_fidelity=1 / 9)
    parts = [segment_rows(10, 3, rungs.segment(r), seed=7) for r in range(rungs.top + 1)]
    assert [len(p) for p in parts] == [3, 7, 20]
    stream = [i for part in parts for i in part]
    assert stream == segment_rows(10, 3, (0.0, 1.0), seed=7) and len(stream) == 30
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]   # each epoch reshuffled
    kinds = ["add", "subtract", "multiply", "two_step"] * 25        # the math dev split's order
    half = dev_subset(kinds, 0.5)
    assert Counter(kinds[i] for i in half) == {k: 13 for k in set(kinds)}    # ceil(25 / 2) of each kind
    assert half == dev_subset(kinds, 0.5) and dev_subset(["", ""] * 3, 1.0) == list(range(6))


def finished(tree: Tree, scores: list[float], now: float = 1.0) -> list[str]:
    ids = []
    for score in scores:
        node = tree.add(baseline_spec(), tree.root.id, now)
        tree.record(node.id, RunResult(status=NodeStatus.SUCCEEDED, score=score, fidelity=1 / 3, dev_fraction=0.5),
                    score, now)
        ids.append(node.id)
    return ids


def test_asha_promotes_the_top_third_of_a_rung_and_never_twice() -> None:
    tree = Tree("t")
    tree.add(baseline_spec(), None, 0.0)
    tree.record("n0000", RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 0.0)
    rungs = Rungs(eta=3, min_fidelity=1 / 3)
    ids = finished(tree, [0.2, 0.5])
    assert promotable(tree, rungs, set(), set()) == []          # floor(2 / 3) = 0
    ids += finished(tree, [0.4, 0.3, 0.6, 0.1])
    assert promotable(tree, rungs, set(), set()) == [(ids[4], 1), (ids[1], 1)]   # top 2 of 6, best first
    assert promotable(tree, rungs, {ids[4]}, {ids[1]}) == []
    full = RunResult(status=NodeStatus.SUCCEEDED, score=0.7, fidelity=1.0)
    node = tree.promote(ids[4], full, 0.7, 2.0)
    assert node.rung_scores == (0.6, 0.7) and not node.proxy and tree[ids[1]].proxy
    assert promotable(tree, rungs, set(), set()) == [(ids[1], 1)]  # the top rung is never promoted
    root = tree.root
    assert root.value_max == 0.7 and root.visits == 7
    assert root.value_sum == pytest.approx(0.1 + 0.2 + 0.5 + 0.4 + 0.3 + 0.7 + 0.1)


class RungPool(FakePool):
    """Scores rise with the share of training done; each job's adapter is its own path."""

    def result(self, handle: int) -> tuple[RunResult, bool]:
        job: Job = self.busy[handle]
        if not job.train:
            return super().result(handle)
        score = dev_score(job) * (0.6 + 0.4 * job.segment[1])
        return RunResult(status=NodeStatus.SUCCEEDED, score=score, adapter_path=f"{job.node_dir}/adapter",
                         fidelity=job.segment[1], dev_fraction=job.dev_fraction,
                         cost=Cost(total_s=60, train_s=50, eval_s=10, train_samples=job.spec.data.max_samples)), False


def test_the_core_runs_proxies_then_continues_the_best_from_their_own_adapters(tmp_path) -> None:
    search = make(run_dir=tmp_path, max_nodes=8, fidelity="asha")
    pool = RungPool()
    out = run(search, pool)
    trained = [j for j in pool.submitted if j.train]
    first = [j for j in trained if j.rung == 0]
    promotions = [j for j in trained if j.rung == 1]
    assert len(first) == 7 and all(j.segment == (0.0, 0.333333) and j.dev_fraction == 0.5 for j in first)
    assert len(promotions) >= 2 and len({j.node_id for j in promotions}) == len(promotions)
    for job in promotions:
        node = out.tree[job.node_id]
        assert job.segment == (0.333333, 1.0) and job.dev_fraction == 1.0 and job.node_dir.endswith("rung1")
        assert job.parent_adapter == f"{tmp_path}/nodes/{job.node_id}/adapter"    # its own rung-0 adapter
        assert not node.proxy and len(node.rung_scores) == 2 and node.result.cost.total_s == 120
        assert (tmp_path / "nodes" / job.node_id / "rung1" / "result.json").is_file()
    best = out.tree.best()
    assert best is not None and not best.proxy      # a promoted node is scored higher than any proxy here
    assert out.final.best_test is not None
    proxy = next(n for n in out.tree if n.proxy)
    summary = (tmp_path / "summary.md").read_text()
    assert f"| {proxy.id} | sampler | SUCCEEDED | {proxy.score:.3f}* |" in summary and "is a proxy" in summary
    assert "(proxy: 33% of its training, 50% of dev)" in summarize(out.tree, proxy)
    assert "proxy" not in summarize(out.tree, out.tree[promotions[0].node_id])


def test_promotions_go_on_after_max_nodes_until_no_rung_can_promote() -> None:
    search = make(max_nodes=4, fidelity="asha", eta=2, min_fidelity=0.25)
    pool = RungPool()
    out = run(search, pool)
    rungs = [j.rung for j in pool.submitted if j.train]
    assert rungs.count(0) == 3 and max(rungs) == 2      # 3 proxies; the best climbs to the top rung
    assert out.stop_reason == "max_nodes=4 reached"


def test_a_failed_promotion_keeps_the_lower_rung() -> None:
    class FailingPromotions(RungPool):
        def result(self, handle: int) -> tuple[RunResult, bool]:
            if self.busy[handle].rung:
                return RunResult(status=NodeStatus.FAILED, error="out of memory"), False
            return super().result(handle)

    out = run(make(max_nodes=5, fidelity="asha"), FailingPromotions())
    trained = [n for n in out.tree if n.parent_id]
    assert all(n.status is NodeStatus.SUCCEEDED and n.proxy and len(n.rung_scores) == 1 for n in trained)


def test_the_status_line_counts_promotions_and_marks_a_proxy_best() -> None:
    from trex.progress import status_line

    tree = Tree("t")
    tree.add(baseline_spec(), None, 0.0)
    tree.record("n0000", RunResult(status=NodeStatus.SUCCEEDED, score=0.1), 0.1, 0.0)
    [proxy] = finished(tree, [0.4])
    line = status_line(tree, 75.0, 12, promoting=1)
    assert "0 running · 1 promoting · 0 queued" in line and f"best dev 0.400* ({proxy})" in line
    assert "promoting" not in status_line(tree, 75.0, 12)
