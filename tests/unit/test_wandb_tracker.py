"""The W&B tracker against real offline run files, read back from their .wandb logs."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.conftest import spec_json
from tests.wandb_offline import read_run, read_runs
from trex.search.core import baseline_spec
from trex.track.wandb_tracker import SPEC_COLUMNS, TREE_COLUMNS, WandbTracker, artifact_name, run_id
from trex.tree.records import Cost, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree, write_json


def small_tree(run_dir: Path) -> Tree:
    """root -> a (succeeded, with an adapter), root -> b (failed)."""
    tree = Tree(task=run_dir.name)
    root = tree.add(baseline_spec(32), None, 0.0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.25, metrics={"accuracy": 0.25}), 0.0, 1.0)
    adapter = run_dir / "nodes" / "n0001" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    a = tree.add(ExperimentSpec.model_validate(spec_json("lr up", learning_rate=1e-3)), root.id, 2.0)
    tree.record(a.id, RunResult(status=NodeStatus.SUCCEEDED, score=0.5, metrics={"accuracy": 0.5},
                                cost=Cost(train_s=3.0, total_s=4.0), adapter_path=str(adapter)), 0.4, 3.0)
    b = tree.add(ExperimentSpec.model_validate(spec_json("two epochs", direction="training_length", epochs=2)),
                 root.id, 4.0)
    tree.record(b.id, RunResult(status=NodeStatus.FAILED, error="boom"), 0.0, 5.0)
    return tree


@pytest.fixture
def logged(tmp_path: Path):
    run_dir = tmp_path / "20260101-000000-math"
    run_dir.mkdir()
    tree = small_tree(run_dir)
    tracker = WandbTracker("trex-test", "offline", run_dir, "uct", log_best_adapter=True)
    for node in tree:
        tracker.log_node(node, run_dir.name)
    tree.save(run_dir / "tree.json")
    write_json(run_dir / "final.json", {"stop_reason": "max_nodes=3", "base_test": 0.2, "best_test": 0.45,
                                        "best_node": "n0001"})
    tracker.finish()
    assert tracker.enabled
    return run_dir, read_runs(run_dir / "wandb")


def test_one_run_per_node_in_the_search_group(logged) -> None:
    run_dir, runs = logged
    assert set(runs) == {"n0000", "n0001", "n0002", "search"}
    assert {r.group for r in runs.values()} == {run_dir.name}
    assert {r.job_type for r in runs.values()} == {"node", "search"}


def test_node_config_summary_and_tags(logged) -> None:
    run_dir, runs = logged
    a = runs["n0001"]
    assert a.id == run_id(run_dir.name, "n0001")
    assert a.config["train.learning_rate"] == 1e-3 and a.config["data.max_samples"] == 32
    assert a.config["direction"] == "learning_rate" and a.config["policy"] == "uct"
    assert a.config["parent_id"] == "n0000" and a.config["parent_run_id"] == runs["n0000"].id
    assert runs["n0000"].config["parent_run_id"] is None
    assert a.summary["score"] == 0.5 and a.summary["accuracy"] == 0.5 and a.summary["cost/train_s"] == 3.0
    assert a.summary["status"] == "SUCCEEDED"
    assert {"learning_rate", "uct"} <= set(a.tags)
    assert {"training_length", "uct"} <= set(runs["n0002"].tags) and runs["n0002"].summary["status"] == "FAILED"


def test_tree_table_final_scores_and_best_adapter(logged) -> None:
    run_dir, runs = logged
    search = runs["search"]
    assert search.summary["best_test"] == 0.45 and search.summary["best_dev"] == 0.5
    assert search.summary["nodes"] == 3 and search.summary["failed"] == 1
    ref = search.summary["tree"]
    assert ref["_type"] == "table-file"
    [table_file] = (run_dir / "wandb").glob(f"offline-run-*{search.id}/files/{ref['path']}")
    table = json.loads(table_file.read_text())
    assert table["columns"] == TREE_COLUMNS + SPEC_COLUMNS
    assert [row[:len(TREE_COLUMNS)] for row in table["data"]] == [
        ["n0000", None, 0, 0.25, "SUCCEEDED", "baseline", "", False],
        ["n0001", "n0000", 1, 0.5, "SUCCEEDED", "learning_rate", "", False],
        ["n0002", "n0000", 1, None, "FAILED", "training_length", "", False]]
    spec = dict(zip(SPEC_COLUMNS, table["data"][1][len(TREE_COLUMNS):], strict=True))
    assert spec["objective"] == "lr up" and spec["train.learning_rate"] == 1e-3 and spec["data.max_samples"] == 32
    [artifact] = [a for a in search.artifacts if a.type == "model"]
    assert artifact.name == run_id(run_dir.name, "best-adapter")
    assert json.loads(artifact.metadata)["node"] == "n0001"
    assert [e.path for e in artifact.manifest.contents] == ["adapter_config.json"]


def test_a_wandb_failure_disables_the_tracker(tmp_path: Path, monkeypatch, caplog) -> None:
    import wandb

    calls = []

    def broken(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("no backend")

    monkeypatch.setattr(wandb, "init", broken)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    tree = small_tree(run_dir)
    tree.save(run_dir / "tree.json")
    tracker = WandbTracker("trex-test", "offline", run_dir, "greedy")
    with caplog.at_level(logging.WARNING):
        for node in tree:
            tracker.log_node(node, "r")
        tracker.finish()
    assert not tracker.enabled and len(calls) == 1
    assert "disabling it" in caplog.text


def test_a_node_run_streams_its_loss_while_it_runs_and_keeps_its_id_across_sessions(tmp_path: Path) -> None:
    """node_started opens the run, log_steps streams train/loss, log_node closes it with the
    summary and the adapter artifact; a second session (a resume) reopens the same run id."""
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    tree = small_tree(run_dir)
    node = tree["n0001"]
    first = WandbTracker("trex-test", "offline", run_dir, "uct")
    first.node_started(node, "r")
    first.log_steps("n0001", [{"step": 1, "loss": 2.0, "learning_rate": 1e-3}, {"step": 2, "loss": 1.5}])
    first.finish()                                     # the session ends with the node still running
    second = WandbTracker("trex-test", "offline", run_dir, "uct")
    second.node_started(node, "r")
    second.log_steps("n0001", [{"step": 1, "loss": 1.9}, {"step": 2, "loss": 1.2}, {"step": 3, "loss": 0.9}])
    second.log_node(node, "r")
    assert not second.open
    second.finish()
    assert first.enabled and second.enabled
    sessions = [read_run(f) for f in sorted((run_dir / "wandb").glob("offline-run-*")) if "n0001" in f.name]
    assert len(sessions) == 2 and {s.id for s in sessions} == {run_id("r", "n0001")}
    losses = [[row["train/loss"] for row in s.history if "train/loss" in row] for s in sessions]
    assert losses == [[2.0, 1.5], [1.9, 1.2, 0.9]]
    assert [row["train/step"] for row in sessions[1].history if "train/step" in row] == [1, 2, 3]
    final = sessions[1]
    assert final.summary["score"] == 0.5 and final.config["parent_artifact"] == artifact_name("r", "n0000")
    [artifact] = final.artifacts
    assert artifact.name == artifact_name("r", "n0001") and artifact.type == "model"
    assert [e.path for e in artifact.manifest.contents] == ["adapter_config.json"]
