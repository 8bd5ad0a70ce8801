"""Storage locations (trex.storage): paths and URIs, atomic writes, folder upload/download, the
driver's record mirror and a resume's record download, all through pyarrow.fs on file:// URIs."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from trex import storage
from trex.config import ConfigError, check_storage, saved_config
from trex.execute.executor import Executor
from trex.search.contracts import Job
from trex.tree.records import Direction, ExperimentSpec, NodeStatus, RunResult


def test_join_keeps_a_uri_query_at_the_end_and_paths_plain() -> None:
    uri = "s3://bucket/runs?endpoint_override=http://127.0.0.1:9000&scheme=http"
    assert storage.join(uri, "r1", "nodes/n0001") == \
        "s3://bucket/runs/r1/nodes/n0001?endpoint_override=http://127.0.0.1:9000&scheme=http"
    assert storage.join("file:///tmp/x/", "a") == "file:///tmp/x/a"
    assert storage.join("/tmp/x", "a", "b") == "/tmp/x/a/b"
    assert storage.is_uri("gs://b/x") and not storage.is_uri("runs/x")


def test_write_read_exists_and_a_reader_never_sees_a_torn_file(tmp_path: Path) -> None:
    loc = f"file://{tmp_path}/deep/tree.json"
    assert not storage.exists(loc)
    storage.write_bytes(loc, b'{"v": 0}')
    seen: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(storage.read_bytes(loc))

    reader = threading.Thread(target=read)
    reader.start()
    for v in range(1, 200):
        storage.write_bytes(loc, json.dumps({"v": v, "pad": "x" * 5000}).encode())
    stop.set()
    reader.join()
    assert all(json.loads(b)["v"] >= 0 for b in seen) and len(seen) > 0
    assert json.loads(storage.read_bytes(loc))["v"] == 199
    assert not list((tmp_path / "deep").glob("*.tmp-*")), "temporary files left behind"


def test_upload_then_download_round_trips_a_folder(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "adapter").mkdir(parents=True)
    (src / "adapter" / "adapter_config.json").write_text("{}")
    (src / "adapter" / "weights.bin").write_bytes(bytes(range(256)) * 40)
    (src / "log.txt").write_text("hello")
    remote = f"file://{tmp_path}/store/nodes/n0001"
    assert storage.upload(src, remote) == 3
    local = tmp_path / "scratch" / "parent"
    local.parent.mkdir()
    storage.download(storage.join(remote, "adapter"), local)
    assert (local / "weights.bin").read_bytes() == (src / "adapter" / "weights.bin").read_bytes()
    assert not list(local.parent.glob(".download-*"))
    with pytest.raises(FileNotFoundError, match="no folder at"):
        storage.download(storage.join(remote, "missing"), tmp_path / "scratch" / "x")


def test_a_bad_storage_uri_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"storage='nosuch://bucket/x'.*'nosuch'.*s3://"):
        check_storage("nosuch://bucket/x")
    check_storage(None)
    check_storage("runs/elsewhere")


def test_mirror_uploads_what_changed_and_resume_gets_records_not_artifacts(tmp_path: Path) -> None:
    run = tmp_path / "local" / "r1"
    (run / "nodes" / "n0001").mkdir(parents=True)
    (run / "config.json").write_text('{"a": 1}')
    (run / "tree.json").write_text('{"nodes": 1}')
    (run / "nodes" / "n0001" / "spec.json").write_text("{}")
    remote = f"file://{tmp_path}/store/r1"
    mirror = storage.Mirror(run, remote)
    mirror()
    assert storage.read_bytes(storage.join(remote, "tree.json")) == b'{"nodes": 1}'
    stamp = (tmp_path / "store" / "r1" / "config.json").stat().st_mtime_ns
    (run / "tree.json").write_text('{"nodes": 2}')
    mirror()
    assert storage.read_bytes(storage.join(remote, "tree.json")) == b'{"nodes": 2}'
    assert (tmp_path / "store" / "r1" / "config.json").stat().st_mtime_ns == stamp, "unchanged file re-sent"
    assert json.loads(saved_config(remote)) == {"a": 1}
    # an executor's artifacts in the same node folder stay in storage on resume
    (tmp_path / "store" / "r1" / "nodes" / "n0001" / "adapter").mkdir(parents=True)
    (tmp_path / "store" / "r1" / "nodes" / "n0001" / "adapter" / "weights.bin").write_bytes(b"w")
    (tmp_path / "store" / "r1" / "nodes" / "n0001" / "result.json").write_text("{}")
    fresh = tmp_path / "resumed" / "r1"
    assert storage.download_records(remote, fresh) == 4
    assert (fresh / "nodes" / "n0001" / "result.json").is_file()
    assert not (fresh / "nodes" / "n0001" / "adapter").exists()
    with pytest.raises(FileNotFoundError, match="not a trex run"):
        storage.download_records(f"file://{tmp_path}/store/nothing", tmp_path / "x")
    with pytest.raises(ConfigError, match="not a trex run in storage"):
        saved_config(f"file://{tmp_path}/store/nothing")


def test_a_job_on_a_uri_publishes_its_artifacts_and_removes_its_scratch(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch" / "abc" / "n0002"
    (scratch / "adapter").mkdir(parents=True)
    (scratch / "adapter" / "adapter_config.json").write_text("{}")
    (scratch / "predictions.jsonl").write_text('{"id": 1}\n')
    (scratch / ".parent_adapter").mkdir()
    (scratch / ".parent_adapter" / "big.bin").write_bytes(b"p")
    result = RunResult(status=NodeStatus.SUCCEEDED, score=0.5, adapter_path=str(scratch / "adapter"),
                       predictions_path=str(scratch / "predictions.jsonl"))
    remote = f"file://{tmp_path}/store/nodes/n0002"
    out = Executor._published(result, scratch, remote)
    assert out.adapter_path == f"{remote}/adapter" and out.predictions_path == f"{remote}/predictions.jsonl"
    assert storage.exists(out.adapter_path) and not storage.exists(f"{remote}/.parent_adapter")
    assert not (tmp_path / "scratch" / "abc").exists()
    # an upload that fails fails the job, naming the location
    (scratch / "x").parent.mkdir(parents=True)
    (scratch / "x").write_text("x")
    (tmp_path / "blocker").write_text("a file where a folder must go")
    failed = Executor._published(result, scratch, f"file://{tmp_path}/blocker/nodes/n0002")
    assert failed.status is NodeStatus.FAILED and "could not upload" in (failed.error or "")


def test_adapters_named_by_uri_are_fetched_into_the_jobs_scratch(tmp_path: Path) -> None:
    parent = tmp_path / "store" / "nodes" / "n0001" / "adapter"
    parent.mkdir(parents=True)
    (parent / "adapter_config.json").write_text('{"r": 8}')
    job = Job(node_id="n0003", spec=ExperimentSpec(objective="xyz", direction=Direction.WARM_START), node_dir=f"file://{tmp_path}/store/nodes/n0003",
              seed=0, parent_adapter=f"file://{parent}", adapter=None)
    scratch = tmp_path / "scratch" / "n0003"
    scratch.mkdir(parents=True)
    local = Executor._localized(job, scratch)
    assert local.parent_adapter == str(scratch / ".parent_adapter") and local.adapter is None
    assert json.loads((scratch / ".parent_adapter" / "adapter_config.json").read_text()) == {"r": 8}


def test_an_s3_root_on_a_local_server_round_trips_folders_and_records(s3_root: str, tmp_path: Path) -> None:
    folder = tmp_path / "node"
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    (folder / "predictions.jsonl").write_text('{"id": 1}\n')
    location = storage.join(s3_root, "run", "nodes", "n0001")
    assert location.startswith("s3://trex-runs/ci/run/nodes/n0001?endpoint_override=")
    assert storage.upload(folder, location) == 2
    storage.write_bytes(storage.join(s3_root, "run", "tree.json"), b'{"nodes": []}')
    assert storage.read_bytes(storage.join(s3_root, "run", "tree.json")) == b'{"nodes": []}'
    back = storage.download(storage.join(location, "adapter"), tmp_path / "back")
    assert json.loads((back / "adapter_config.json").read_text()) == {"r": 8}
    assert storage.exists(storage.join(location, "predictions.jsonl"))
    assert not storage.exists(storage.join(location, "missing.json"))
    with pytest.raises(FileNotFoundError, match="no folder at s3://"):
        storage.download(storage.join(s3_root, "run", "nodes", "n0009"), tmp_path / "none")
