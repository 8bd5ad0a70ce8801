"""Read W&B offline run files (run-<id>.wandb) back: config, summary, tags, group, history, artifacts.

The file is a LevelDB-style log (7-byte header ':W&B' 0xBEE1 v0, 32 KiB blocks, records framed
by checksum(4) length(2) type(1)) of `wandb_internal_pb2.Record` protobufs."""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    out, pos, chunks = [], HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:                      # block trailer: zero padding
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        chunks = chunk if kind in (FULL, FIRST) else chunks + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(chunks)
            out.append(record)
    return out


def _items(items: Any, into: dict[str, Any]) -> None:
    for item in items:
        *path, last = item.nested_key or [item.key]
        target = into
        for part in path:
            target = target.setdefault(part, {})
        target[last] = json.loads(item.value_json)


@dataclass
class OfflineRun:
    id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[Any] = field(default_factory=list)


def read_run(folder: Path) -> OfflineRun:
    """Replay an offline-run-* folder's .wandb file into its final state."""
    [log] = Path(folder).glob("run-*.wandb")
    run = OfflineRun()
    for rec in records(log):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            # a later run record (a tag update) carries only what changed
            run.id, run.name = r.run_id or run.id, r.display_name or run.name
            run.group, run.job_type = r.run_group or run.group, r.job_type or run.job_type
            run.tags = list(r.tags) or run.tags
            _items(r.config.update, run.config)
            _items(r.summary.update, run.summary)
        elif kind == "config":
            _items(rec.config.update, run.config)
        elif kind == "summary":
            _items(rec.summary.update, run.summary)
        elif kind == "history":
            row: dict[str, Any] = {}
            _items(rec.history.item, row)
            run.history.append(row)
        elif kind == "artifact":
            run.artifacts.append(rec.artifact)
    run.config.pop("_wandb", None)
    return run


def read_runs(wandb_dir: Path) -> dict[str, OfflineRun]:
    """Every offline run under a wandb/ folder, by run name."""
    runs = [read_run(f) for f in sorted(Path(wandb_dir).glob("offline-run-*"))]
    return {r.name: r for r in runs}
