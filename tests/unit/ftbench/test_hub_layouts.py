"""The Hub requests each task really makes, replayed against its repo's recorded layout.

`data/hub_layouts.json` records what stored Hugging Face pages show of every repo a task reads
(file paths, the card's `configs:` YAML, split names, with each page's URL and shown date; the
Hub API is unreachable here). Each test rebuilds that layout as a local folder (same relative
file names, the recorded card, one or two synthetic rows with the columns the task reads),
intercepts the task's own reader (`hub_rows`, `hf_hub_download`, `local_file`) and serves the
call from the folder: `datasets.load_dataset(<folder>, config, split=split)` applies the same
data-files and config rules to a local folder as to a Hub repo, so a misnamed split, config or
file fails here as it would online. Nothing is fetched."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.source import fixture_path, read_rows

LAYOUTS: dict[str, dict[str, Any]] = {
    repo: layout for repo, layout in
    json.loads((Path(__file__).parent / "data" / "hub_layouts.json").read_text(encoding="utf-8")).items()
    if not repo.startswith("_")}
Rows = Callable[[str], list[dict[str, Any]]]
Call = tuple[str, str, str | None, str | None]   # repo_id, split, config, revision


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    """`rows` in the format the file's suffix names (.csv, .json, .parquet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".csv":
        import csv

        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        raise ValueError(f"no synthetic format for {path.name}")


def rebuild(repo: str, root: Path, rows: Rows) -> Path:
    """The recorded layout of `repo` as a folder: its card (when recorded) and its data files,
    each holding `rows(<relative path>)`. Folders and files of unknown content are left out."""
    layout, folder = LAYOUTS[repo], root / repo
    folder.mkdir(parents=True)
    if isinstance(layout["readme_yaml"], str) and layout["readme_yaml"] != "unknown":
        (folder / "README.md").write_text(f"---\n{layout['readme_yaml']}---\n", encoding="utf-8")
    files = layout["files"]
    assert isinstance(files, dict), f"{repo}: no file listing recorded"
    for relative in files:
        if relative != "README.md" and not relative.endswith("/"):
            _write(folder / relative, rows(relative))
    return folder


def replay_hub_rows(monkeypatch: pytest.MonkeyPatch, module: Any, root: Path,
                    serve: Callable[[str, str, str | None], list[dict[str, Any]]] | None = None) -> list[Call]:
    """Route `module.hub_rows` to `load_dataset(<rebuilt folder>, config, split=split)`; record
    each call. Repos for which `serve` returns rows (not None) are served by it instead."""
    calls: list[Call] = []

    def fake(task: str, repo_id: str, split: str, config: str | None = None,
             revision: str | None = None) -> list[dict[str, Any]]:
        from datasets import load_dataset

        calls.append((repo_id, split, config, revision))
        assert repo_id in LAYOUTS, f"{task} reads {repo_id!r}, which hub_layouts.json does not record"
        if serve is not None and (rows := serve(repo_id, split, config)) is not None:
            return rows
        assert revision in (None, LAYOUTS[repo_id]["revision"]), f"{repo_id}: revision {revision} not recorded"
        ds = load_dataset(str(root / repo_id), config, split=split, cache_dir=str(root / ".cache"))
        return ds.to_list()

    monkeypatch.setattr(module, "hub_rows", fake)
    return calls


# --- sst2 and econlogicqa: ftbench.source.hub_rows -> datasets.load_dataset -------------------------------

def _sst2_rows(relative: str) -> list[dict[str, Any]]:
    split = Path(relative).name.split("-")[0]
    return [{"idx": i, "sentence": f"{split} sentence {i} .", "label": i % 2} for i in range(2)]


def test_sst2_splits_resolve_on_recorded_layout(monkeypatch, tmp_path) -> None:
    from ftbench.sst2 import task as sst2

    rebuild(sst2.HUB_ID, tmp_path, _sst2_rows)
    calls = replay_hub_rows(monkeypatch, sst2, tmp_path)
    task = get_task("sst2", dev_size=1)
    assert [e.id for e in task.load(Split.TEST)] == ["validation-0", "validation-1"]
    assert {e.id for e in task.load(Split.TRAIN) + task.load(Split.DEV)} == {"train-0", "train-1"}
    assert set(calls) == {(sst2.HUB_ID, "validation", None, None), (sst2.HUB_ID, "train", None, None)}
    assert all(c[1] in LAYOUTS[sst2.HUB_ID]["splits"]["default"] for c in calls)


def _econ_rows(relative: str) -> list[dict[str, Any]]:
    split = Path(relative).stem
    return [{"Question": f"{split} scenario {i}", "A": "a", "B": "b", "C": "c", "D": "d", "Answer": "C, A, B, D"}
            for i in range(2)]


def test_econlogicqa_splits_resolve_on_recorded_layout(monkeypatch, tmp_path) -> None:
    from ftbench.econlogicqa import task as econ

    rebuild(econ.HUB_ID, tmp_path, _econ_rows)
    calls = replay_hub_rows(monkeypatch, econ, tmp_path)
    task = get_task("econlogicqa")
    for split, source in econ.SOURCE_SPLITS.items():
        examples = task.load(split)
        assert [e.question.splitlines()[0] for e in examples] == [f"{source} scenario 0", f"{source} scenario 1"]
        assert all(e.answer == "C, A, B, D" for e in examples)
    assert {c[1] for c in calls} == {"train", "val", "test"} == set(LAYOUTS[econ.HUB_ID]["splits"]["default"])
    assert {(c[0], c[2], c[3]) for c in calls} == {(econ.HUB_ID, None, None)}


def test_replay_rejects_a_split_name_the_card_does_not_declare(tmp_path) -> None:
    """The check has teeth: "validation" (the default-rules name of data/val.csv) is refused,
    and without the card's configs "val" itself would be."""
    from datasets import load_dataset

    folder = rebuild("yinzhu-quan/econ_logic_qa", tmp_path, _econ_rows)
    with pytest.raises(ValueError, match="Unknown split"):
        load_dataset(str(folder), None, split="validation", cache_dir=str(tmp_path / ".cache"))
    (folder / "README.md").unlink()
    with pytest.raises(ValueError, match="Unknown split"):
        load_dataset(str(folder), None, split="val", cache_dir=str(tmp_path / ".cache2"))


# --- hoc: huggingface_hub.hf_hub_download of the pinned Parquet export ----------------------------------

def replay_downloads(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[dict[str, Any]]:
    """Route `huggingface_hub.hf_hub_download` to the rebuilt folder of the recorded revision."""
    import huggingface_hub

    calls: list[dict[str, Any]] = []

    def fake(repo_id: str, filename: str, **kwargs: Any) -> str:
        calls.append({"repo_id": repo_id, "filename": filename, **kwargs})
        layout = LAYOUTS[repo_id]
        if kwargs.get("repo_type") != "dataset" or kwargs.get("revision") != layout["revision"]:
            raise FileNotFoundError(f"{repo_id}: no recorded layout for {kwargs}")
        path = root / repo_id / filename
        if not path.is_file():
            raise FileNotFoundError(f"{repo_id}@{layout['revision']} has no {filename}")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    return calls


def _hoc_rows(relative: str) -> list[dict[str, Any]]:
    split = Path(relative).parent.name
    return [{"document_id": f"{len(split)}_0", "text": f"{split} sentence .", "label": [8]}]


def test_hoc_downloads_resolve_on_recorded_parquet_export(monkeypatch, tmp_path) -> None:
    from ftbench.hoc import task as hoc

    rebuild(hoc.HUB_ID, tmp_path, _hoc_rows)
    calls = replay_downloads(monkeypatch, tmp_path)
    for split, source in hoc.SOURCE_SPLITS.items():
        [example] = get_task("hoc").load(split)
        assert (example.question, example.answer) == (f"{source} sentence .", "inducing angiogenesis")
    expected = [f"{hoc.HUB_CONFIG}/{s}/0000.parquet" for s in ("train", "validation", "test")]
    assert [c["filename"] for c in calls] == expected
    assert {c["revision"] for c in calls} == {hoc.PARQUET_REVISION}
    assert set(hoc.SOURCE_SPLITS.values()) == set(LAYOUTS[hoc.HUB_ID]["splits"][hoc.HUB_CONFIG])


def test_hoc_download_of_an_unrecorded_file_fails(monkeypatch, tmp_path) -> None:
    from ftbench.hoc import task as hoc

    rebuild(hoc.HUB_ID, tmp_path, _hoc_rows)
    replay_downloads(monkeypatch, tmp_path)
    monkeypatch.setattr(hoc, "SOURCE_SPLITS", {**hoc.SOURCE_SPLITS, Split.DEV: "dev"})
    with pytest.raises(SourceUnavailable, match=re.escape("hallmarks_of_cancer_source/dev/0000.parquet")):
        get_task("hoc").load(Split.DEV)


# --- gta: local_file of a file downloaded by hand from resolve/main -------------------------------------

_RESOLVE = re.compile(r"https://huggingface\.co/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")


def test_gta_file_is_the_recorded_dataset_json(monkeypatch, tmp_path) -> None:
    from ftbench.gta import task as gta

    fixture = json.loads(fixture_path(gta.__file__, "dataset.json").read_text(encoding="utf-8"))
    calls: list[tuple[str, str, str]] = []

    def fake_local_file(task: str, relative: str, url: str) -> Path:
        calls.append((task, relative, url))
        match = _RESOLVE.fullmatch(url)
        assert match, f"{url} is not a Hub resolve URL"
        repo, revision, path = match.groups()
        assert (revision, path) == (LAYOUTS[repo]["revision"], relative)
        return folder / relative

    folder = tmp_path / "Jize1/GTA"
    folder.mkdir(parents=True)
    for relative in LAYOUTS["Jize1/GTA"]["files"]:
        if relative.endswith(".json"):   # content format not on the pages: the task's fixture format
            (folder / relative).write_text(json.dumps(fixture), encoding="utf-8")
    monkeypatch.setattr(gta, "local_file", fake_local_file)
    assert get_task("gta", split_mode="carve").load(Split.TEST)   # official needs > 20 queries
    assert calls and {c[1] for c in calls} == {"dataset.json"}


# --- tomg_bench (read only; the task is being edited elsewhere) ---------------------------------------

def _tomg_fixture(repo_id: str, split: str, config: str | None) -> list[dict[str, Any]] | None:
    """The task's bundled sample for the benchmark repos (their layout is not fully recorded)."""
    from ftbench.tomg_bench import task as tomg

    if repo_id in tomg.TEST_REPOS.values():
        return read_rows(fixture_path(tomg.__file__, f"{config}.csv"))
    return None


def _openmolins_rows(relative: str) -> list[dict[str, Any]]:
    from ftbench.tomg_bench import task as tomg

    return read_rows(fixture_path(tomg.__file__, "OpenMolIns-train.csv"))


@pytest.mark.parametrize("scale", ["light", "small", "medium", "large", "xlarge"])
def test_tomg_openmolins_train_resolves_on_recorded_layout(monkeypatch, tmp_path, scale: str) -> None:
    pytest.importorskip("rdkit")
    from ftbench.tomg_bench import task as tomg

    repo = f"phenixace/OpenMolIns-{scale}"
    if not isinstance(LAYOUTS[repo]["files"], dict):
        pytest.skip(f"{repo}: no stored page lists its files")
    rebuild(repo, tmp_path, _openmolins_rows)
    calls = replay_hub_rows(monkeypatch, tomg, tmp_path, serve=_tomg_fixture)
    train = get_task("tomg_bench", openmolins_scale=scale).load(Split.TRAIN)
    assert train and all(e.id.startswith("omi-") for e in train)
    assert (repo, "train", None, None) in calls


def test_tomg_test_configs_name_the_recorded_benchmark_file(monkeypatch, tmp_path) -> None:
    pytest.importorskip("rdkit")
    from ftbench.tomg_bench import task as tomg

    calls = replay_hub_rows(monkeypatch, tomg, tmp_path, serve=_tomg_fixture)
    get_task("tomg_bench").load(Split.TEST)
    repo = tomg.TEST_REPOS["full"]
    assert {(c[0], c[1], c[3]) for c in calls} == {(repo, "test", None)}
    assert {f"{c[2]}.csv" for c in calls} >= set(LAYOUTS[repo]["files"])


@pytest.mark.xfail(strict=True, raises=ValueError, reason=(
    "evidence gap, not a confirmed mismatch: the stored pages show MolCustom_FunctionalGroup.csv at "
    "the root of phenixace/S2-TOMG-Bench but not its card; the task's config + split 'test' resolve "
    "only if the card declares that config with a 'test' split (unrecorded), and default rules give "
    "one 'default' config with a 'train' split. Record the card's YAML to turn this into a pass."))
def test_tomg_test_split_resolves_on_recorded_layout(monkeypatch, tmp_path) -> None:
    pytest.importorskip("rdkit")
    from ftbench.tomg_bench import task as tomg

    repo = tomg.TEST_REPOS["full"]
    rebuild(repo, tmp_path, lambda relative: read_rows(fixture_path(tomg.__file__, relative)))
    only_recorded = {Path(f).stem for f in LAYOUTS[repo]["files"]}
    calls = replay_hub_rows(monkeypatch, tomg, tmp_path,
                            serve=lambda r, s, c: None if c in only_recorded else _tomg_fixture(r, s, c))
    get_task("tomg_bench").load(Split.TEST)
    assert calls


# --- coverage ---------------------------------------------------------------------------------------

def test_every_hub_repo_named_by_a_task_is_recorded() -> None:
    import ftbench
    from ftbench.econlogicqa import task as econ
    from ftbench.hoc import task as hoc
    from ftbench.sst2 import task as sst2

    sources = "\n".join(p.read_text(encoding="utf-8") for p in Path(ftbench.__file__).parent.glob("*/task.py"))
    named = set(re.findall(r"huggingface\.co/datasets/([\w.-]+/[\w.-]+)", sources))
    named |= {sst2.HUB_ID, econ.HUB_ID, hoc.HUB_ID}
    assert len(named) >= 5 and named <= set(LAYOUTS), sorted(named - set(LAYOUTS))
    for layout in LAYOUTS.values():
        assert layout["evidence"] and all(e["url"].startswith("https://huggingface.co/") for e in layout["evidence"])
