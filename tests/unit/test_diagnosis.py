"""The node diagnosis: pure, from prediction rows; shown in the memory context when enabled."""
from __future__ import annotations

import json
from pathlib import Path

from trex.agent.reflect import diagnose_node
from trex.search.core import baseline_spec
from trex.tree.diagnosis import diagnose, diagnosis_lines, failure_type
from trex.tree.memory import build_memory
from trex.tree.records import FailureType, NodeStatus, RunResult
from trex.tree.store import Tree


def row(i: int, kind: str, score: float, prediction: str = "x") -> dict:
    return {"id": f"e{i}", "kind": kind, "question": f"What is {i} + {i}? " + "long " * 60, "gold": str(2 * i),
            "completion": prediction, "prediction": prediction, "score": score}


PARENT = [row(0, "add", 1.0), row(1, "add", 0.0), row(2, "multiply", 0.0, ""), row(3, "multiply", 1.0)]
CHILD = [row(0, "add", 0.0), row(1, "add", 1.0), row(2, "multiply", 1.0), row(3, "multiply", 0.5)]


def test_failures_are_typed_grouped_and_sampled() -> None:
    d = diagnose(PARENT, seed=1)
    assert (d.n, d.failures) == (4, 2)
    assert d.by_type == {FailureType.WRONG: 1, FailureType.NO_ANSWER: 1}
    assert [(k.kind, k.failures, k.mean_score) for k in d.by_kind] == [("add", 1, 0.5), ("multiply", 1, 0.5)]
    assert len(d.samples) == 2 and all(len(s.question) <= 160 for s in d.samples)
    assert failure_type(row(9, "add", 0.5)) is FailureType.PARTIAL
    assert diagnose(PARENT, seed=1) == d                      # seeded: a pure function


def test_comparison_with_parent_and_siblings() -> None:
    d = diagnose(CHILD, parent=("n0000", PARENT), siblings=[("n0002", PARENT)])
    parent, sibling = d.comparisons
    assert parent.relation == "parent" and sibling.relation == "sibling"
    assert parent.fixed == 2 and parent.fixed_ids == ["e1", "e2"] and parent.broken == 2
    assert parent.kind_deltas == {"add": 0.0, "multiply": 0.25} and parent.score_delta == 0.125


def test_diagnose_node_reads_prediction_files_and_memory_shows_it(tmp_path: Path) -> None:
    tree = Tree("math")
    files = {}
    for name, rows in (("root", PARENT), ("child", CHILD)):
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.5, predictions_path=str(files["root"])), 0.5, 1)
    child = tree.add(baseline_spec().model_copy(update={"objective": "child"}), root.id, 2)
    tree.record(child.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.6, predictions_path=str(files["child"])),
                0.6, 3)
    d = diagnose_node(tree, child.id)
    assert d is not None and d.comparisons[0].other_id == root.id
    tree.set_diagnosis(child.id, d)
    shown = build_memory(tree, child.id).render()
    assert f"Diagnosis of {child.id}: 2/4 dev examples failed" in shown and "vs parent n0000" in shown
    assert "Diagnosis" not in build_memory(tree, child.id, diagnose=False).render()
    tree.save(tmp_path / "tree.json")                        # resumable: kept in tree.json
    assert Tree.load(tmp_path / "tree.json")[child.id].diagnosis == d
    assert diagnosis_lines(child.id, d)[0].startswith("Diagnosis of n0001")


def test_no_predictions_means_no_diagnosis(tmp_path: Path) -> None:
    tree = Tree("math")
    root = tree.add(baseline_spec(), None, 0)
    tree.record(root.id, RunResult(status=NodeStatus.FAILED, error="boom"), 0.0, 1)
    assert diagnose_node(tree, root.id) is None
