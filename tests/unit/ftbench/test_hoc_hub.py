"""hoc on the Hub: rows come from the pinned Parquet export (the `main` branch holds only a
loading script, which datasets >= 4 refuses); the download is intercepted, nothing is fetched."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftbench import SourceUnavailable, Split, get_task
from ftbench.hoc import task as hoc
from ftbench.offline import OFFLINE_VARIABLES


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _intercept(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[dict[str, Any]]:
    import huggingface_hub

    calls: list[dict[str, Any]] = []

    def fake_download(repo_id: str, filename: str, **kwargs: Any) -> str:
        calls.append({"repo_id": repo_id, "filename": filename, **kwargs})
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    return calls


def test_download_arguments_are_pinned() -> None:
    assert hoc.parquet_download("validation") == {
        "repo_id": "bigbio/hallmarks_of_cancer", "repo_type": "dataset",
        "revision": "b78c5a2c56ed30bb64f184b204c46362092cebdf",
        "filename": "hallmarks_of_cancer_source/validation/0000.parquet"}
    assert hoc.PARQUET_REVISION != "main"   # main holds only the loading script


def test_hub_split_reads_the_pinned_parquet_file(monkeypatch, tmp_path, online) -> None:
    rows = [{"document_id": "12_1", "text": "VEGF drives vessel growth .", "label": [8]},
            {"document_id": "12_0", "text": "Tumours need blood .", "label": [7]},
            {"document_id": "13_0", "text": "Nothing here .", "label": [7]}]
    calls = _intercept(monkeypatch, _parquet(tmp_path / "0000.parquet", rows))
    examples = get_task("hoc").load(Split.TEST)
    assert calls == [{**hoc.parquet_download("test"), "local_files_only": False}]
    assert [(e.id, e.question, e.answer) for e in examples] == [
        ("test-12", "Tumours need blood . VEGF drives vessel growth .", "inducing angiogenesis"),
        ("test-13", "Nothing here .", "none")]
    get_task("hoc").load(Split.DEV)
    assert calls[-1]["filename"] == "hallmarks_of_cancer_source/validation/0000.parquet"


def test_offline_reads_only_the_local_cache(monkeypatch, tmp_path, online) -> None:
    calls = _intercept(monkeypatch, _parquet(tmp_path / "0000.parquet", [
        {"document_id": "1_0", "text": "t", "label": [4]}]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert get_task("hoc").load(Split.TRAIN)[0].answer == "resisting cell death"
    assert calls[0]["local_files_only"] is True


def test_failed_download_names_the_file_and_revision(monkeypatch, online) -> None:
    import huggingface_hub

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise OSError("no route to host")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    with pytest.raises(SourceUnavailable, match=r"hallmarks_of_cancer_source/train/0000\.parquet.*b78c5a2c.*"
                                                 r"OSError: no route to host"):
        get_task("hoc").load(Split.TRAIN)
