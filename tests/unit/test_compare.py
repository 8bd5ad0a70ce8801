"""trex.track.compare on synthetic run folders: configurations, seeds, mean and spread."""
from __future__ import annotations

from pathlib import Path

from trex.search.core import baseline_spec
from trex.track.compare import compare, find, main
from trex.tree.records import NodeStatus, RunResult
from trex.tree.store import Tree, write_json


def fake_run(folder: Path, policy: str, seed: int, dev: float, test: float, lr: float = 1e-4) -> None:
    folder.mkdir(parents=True)
    tree = Tree(task="math")
    root = tree.add(baseline_spec(), None, 0.0)
    tree.record(root.id, RunResult(status=NodeStatus.SUCCEEDED, score=dev), 0.0, 1.0)
    tree.save(folder / "tree.json")
    write_json(folder / "final.json", {"best_test": test})
    write_json(folder / "config.json", {"task": {"name": "math"}, "name": folder.name, "run_dir": str(folder.parent),
                                        "search": {"policy": policy, "seed": seed, "max_nodes": 2},
                                        "executor": {"lr_hint": lr}})


def test_groups_by_configuration_across_seeds(tmp_path: Path, capsys) -> None:
    sweep = tmp_path / "sweep"
    fake_run(sweep / "a", "uct", 0, 0.4, 0.30)
    fake_run(sweep / "b", "uct", 1, 0.6, 0.50)
    fake_run(sweep / "c", "greedy", 0, 0.5, 0.45)
    table = compare(find([sweep])).splitlines()
    assert table[2] == "| policy=greedy | 1 | 0 | 0.500 ± 0.000 [0.500, 0.500] | 0.450 ± 0.000 [0.450, 0.450] |"
    assert table[3] == "| policy=uct | 2 | 0,1 | 0.500 ± 0.141 [0.400, 0.600] | 0.400 ± 0.141 [0.300, 0.500] |"
    assert main([str(sweep)]) == 0 and "policy=uct" in capsys.readouterr().out


def test_other_differing_keys_label_the_configuration(tmp_path: Path) -> None:
    fake_run(tmp_path / "x", "uct", 0, 0.4, 0.3, lr=1e-4)
    fake_run(tmp_path / "y", "uct", 0, 0.5, 0.4, lr=1e-3)
    rows = compare(find([tmp_path])).splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == ["| policy=uct executor.lr_hint=0.0001",
                                                  "| policy=uct executor.lr_hint=0.001"]
