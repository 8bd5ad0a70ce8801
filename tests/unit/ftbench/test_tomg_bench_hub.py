"""tomg_bench on the Hub: the load calls the task makes, intercepted (nothing is fetched).

OpenMolIns-<scale> and S2-TOMG-Bench hold plain CSV files (no loading script), so datasets >= 4
loads them from `main` without a revision: OpenMolIns as the default config's `train` split,
the benchmark by config name (`MolOpt_LogP`, ...) and split `test`, as the authors' own
`utils/dataset.py` in phenixace/S2-TOMG-Bench does."""
from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("rdkit")

from ftbench import Split, get_task
from ftbench.source import fixture_path, read_rows
from ftbench.tomg_bench import task as tomg


def _intercept(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Replace the task's Hub reader by one that records its arguments and serves the fixture."""
    calls: list[tuple[Any, ...]] = []

    def fake_hub_rows(task: str, repo_id: str, split: str, config: str | None = None,
                      revision: str | None = None) -> list[dict[str, Any]]:
        calls.append((task, repo_id, split, config, revision))
        name = "OpenMolIns-train" if repo_id.startswith("phenixace/OpenMolIns-") else config
        return read_rows(fixture_path(tomg.__file__, f"{name}.csv"))

    monkeypatch.setattr(tomg, "hub_rows", fake_hub_rows)
    return calls


def test_test_split_loads_each_config_of_the_benchmark(monkeypatch) -> None:
    calls = _intercept(monkeypatch)
    assert len(get_task("tomg_bench").load(Split.TEST)) == 9
    assert calls == [("tomg_bench", "phenixace/S2-TOMG-Bench", "test", tomg.config_name(k), None) for k in tomg.KINDS]
    calls.clear()
    get_task("tomg_bench", test_scale="mini").load(Split.TEST)
    assert {c[1] for c in calls} == {"phenixace/S2-TOMG-Bench-mini"}


@pytest.mark.parametrize("scale", tomg.OPENMOLINS_SCALES)
def test_train_reads_openmolins_train_split_without_config_or_revision(monkeypatch, scale: str) -> None:
    calls = _intercept(monkeypatch)
    train = get_task("tomg_bench", openmolins_scale=scale).load(Split.TRAIN)
    assert train and all(e.id.startswith("omi-") for e in train)
    assert ("tomg_bench", f"phenixace/OpenMolIns-{scale}", "train", None, None) in calls
