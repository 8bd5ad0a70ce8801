"""report.html read back with a real HTML parser: every node, score and edge is there, the
embedded data agrees with tree.json, and the page needs nothing from the network."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.report_run import make_run, parse
from trex.track import html_report
from trex.tree.records import NodeStatus
from trex.tree.store import Tree


def test_every_node_score_and_edge_is_in_the_page_and_agrees_with_tree_json(tmp_path: Path) -> None:
    tree = make_run(tmp_path)
    page, data = parse(html_report.write_report(tmp_path))
    assert page.links == [], f"the page loads something: {page.links}"
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None]
    saved = Tree.load(tmp_path / "tree.json")
    nodes = {n["id"]: n for n in data["nodes"]}
    assert set(nodes) == {n.id for n in saved} == {n.id for n in tree}
    for node in saved:
        shown = nodes[node.id]
        assert (shown["parent"], shown["status"], shown["score"], shown["proxy"]) == \
            (node.parent_id, node.status.value, node.score, node.proxy)
        assert shown["objective"] == node.spec.objective
    assert data["best"] == "n0003" and data["lineage"] == ["n0000", "n0001", "n0003"]
    first = nodes["n0001"]
    assert first["test"] == 0.38 and first["by_kind"] == {"add": 0.40}
    assert first["diff"] == [["train.learning_rate", 2e-4, 1e-3]]
    assert first["loss"][0] == [1, 2.0] and len(first["right"]) == 3 and len(first["wrong"]) == 3
    assert all(r["score"] == 1.0 for r in first["right"]) and all(r["score"] == 0.0 for r in first["wrong"])
    assert first["diagnosis"] == {"n": 6, "failures": 3, "by_type": {"wrong": 3}}
    assert nodes["n0002"]["error"] == "out of memory: CUDA OOM" and nodes["n0004"]["status"] == "PENDING"
    assert nodes["n0003"]["fidelity"] == 0.5 and nodes["n0003"]["x"] == 0 and nodes["n0004"]["x"] == 1
    assert nodes["n0001"]["x"] == 0.5 and nodes["n0002"]["x"] == 2     # a parent centred over its children
    assert data["progress"] == [[1, 0.1], [2, 0.4], [3, 0.4], [4, 0.55]]
    assert data["final"]["best_test"] == 0.38 and data["metric"] == "exact_match"


def test_text_from_the_run_cannot_end_the_data_script(tmp_path: Path) -> None:
    hostile = "</script><script>document.title='pwned'</script>"
    make_run(tmp_path, hostile=hostile)
    page, data = parse(html_report.write_report(tmp_path))
    assert len(page.scripts) == 2
    assert data["nodes"][1]["objective"].endswith(hostile)


def test_the_writer_refreshes_when_a_node_finishes_and_never_raises(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    tree = make_run(tmp_path)
    writer = html_report.ReportWriter(tmp_path)
    writer()
    first = (tmp_path / "report.html").stat().st_mtime_ns
    writer()                                                  # nothing finished since: not rewritten
    assert (tmp_path / "report.html").stat().st_mtime_ns == first
    from trex.tree.records import RunResult

    tree.mark_running("n0004", 5.0)
    tree.record("n0004", RunResult(status=NodeStatus.SUCCEEDED, score=0.6), 0.6, 6.0)
    tree.save(tmp_path / "tree.json")
    writer()
    _, data = parse(tmp_path / "report.html")
    assert data["best"] == "n0004" and data["lineage"] == ["n0000", "n0001", "n0004"]
    (tmp_path / "tree.json").write_text("{ torn")
    writer()                                                  # logged, not raised
    assert "could not refresh" in caplog.text
