"""Where a run's artifacts live, as Ray Train's `storage_path`: a local folder, or any URI that
pyarrow.fs opens (s3://, gs://, abfs://, hdfs://, file://). An S3-compatible server is named in
the URI's query, e.g. `s3://bucket/runs?endpoint_override=http://host:9000&scheme=http`.

A plain path is the local (or shared) disk and is used in place. A URI is reached only through
this module: an executor works in local scratch, uploads a node's artifacts when its job ends,
and downloads a parent's adapter before a warm start; the driver reads predictions through it.
Writes of one file are atomic: a reader sees the old content or the new, never a torn file.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyarrow import fs as pafs

log = logging.getLogger(__name__)


def is_uri(location: str) -> bool:
    """True for `scheme://...`; a plain path (absolute or relative) is local."""
    return "://" in location


def join(location: str, *parts: str) -> str:
    """`location` with path parts appended (a URI's query, such as an endpoint, stays at the end)."""
    if not is_uri(location):
        return str(Path(location, *parts))
    base, _, query = location.partition("?")
    joined = "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return f"{joined}?{query}" if query else joined


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and path inside it for a location; a clear error for an unusable URI."""
    from pyarrow import fs as pafs

    if not is_uri(location):
        return pafs.LocalFileSystem(), str(Path(location).resolve())
    try:
        return pafs.FileSystem.from_uri(location)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ...
        raise ValueError(f"storage location {location!r} cannot be opened ({err}); use a local path or a "
                         "URI pyarrow.fs supports: s3://, gs://, abfs://, hdfs://, file://") from err


def write_bytes(location: str, data: bytes) -> None:
    """Write one file atomically (local: a temporary file renamed over it; object stores publish a
    single put whole)."""
    from pyarrow import fs as pafs

    filesystem, path = resolve(location)
    parent = path.rsplit("/", 1)[0]
    filesystem.create_dir(parent, recursive=True)
    if isinstance(filesystem, pafs.LocalFileSystem):
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with filesystem.open_output_stream(tmp) as out:
            out.write(data)
        os.replace(tmp, path)
        return
    with filesystem.open_output_stream(path) as out:
        out.write(data)


def read_bytes(location: str) -> bytes:
    filesystem, path = resolve(location)
    with filesystem.open_input_stream(path) as src:
        return src.read()


def exists(location: str) -> bool:
    from pyarrow import fs as pafs

    filesystem, path = resolve(location)
    return filesystem.get_file_info(path).type is not pafs.FileType.NotFound


def upload(local_dir: Path, location: str) -> int:
    """Copy every file under `local_dir` to `location` (same relative paths); files copied."""
    from pyarrow import fs as pafs


    filesystem, root = resolve(location)
    count = 0
    for file in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        rel = file.relative_to(local_dir).as_posix()
        filesystem.create_dir(f"{root}/{rel}".rsplit("/", 1)[0], recursive=True)
        pafs.copy_files(str(file), f"{root}/{rel}", source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=filesystem)
        count += 1
    return count


def download(location: str, local_dir: Path) -> Path:
    """Copy the folder at `location` into `local_dir` (replaced whole); `local_dir`. A FileNotFoundError
    names the location when nothing is there."""
    from pyarrow import fs as pafs

    filesystem, root = resolve(location)
    if filesystem.get_file_info(root).type is not pafs.FileType.Directory:
        raise FileNotFoundError(f"no folder at {location}")
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=local_dir.parent))
    try:
        pafs.copy_files(root, str(staging), source_filesystem=filesystem,
                        destination_filesystem=pafs.LocalFileSystem())
        shutil.rmtree(local_dir, ignore_errors=True)
        staging.rename(local_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return local_dir


class Mirror:
    """Keeps `location` a copy of a local run folder: each call uploads the files that are new or
    changed since the last (tree.json last, so storage never holds a tree ahead of its results).
    An upload that fails is logged and retried on the next call; it never stops the search."""

    def __init__(self, local_dir: Path, location: str) -> None:
        self.local_dir, self.location = local_dir, location
        self.sent: dict[Path, tuple[int, int]] = {}

    def __call__(self) -> None:
        changed = []
        for file in self.local_dir.rglob("*"):
            if not file.is_file() or ".tmp" in file.name:
                continue
            stat = file.stat()
            if self.sent.get(file) != (stat.st_mtime_ns, stat.st_size):
                changed.append((file, (stat.st_mtime_ns, stat.st_size)))
        changed.sort(key=lambda item: item[0].name == "tree.json")
        for file, stamp in changed:
            try:
                write_bytes(join(self.location, file.relative_to(self.local_dir).as_posix()), file.read_bytes())
            except (OSError, ValueError) as err:
                log.warning("could not copy %s to storage %s (retried at the next save): %s", file.name,
                            self.location, err)
                return
            self.sent[file] = stamp


RECORDS = ("spec.json", "result.json", "result-test.json")   # a node's records the driver keeps (not its artifacts)


def download_records(location: str, local_dir: Path) -> int:
    """Copy a run's records from storage into `local_dir` for a resume: every top-level file and
    each node's spec and results; adapters and predictions stay in storage. Files copied."""
    from pyarrow import fs as pafs

    filesystem, root = resolve(location)
    if filesystem.get_file_info(f"{root}/tree.json").type is not pafs.FileType.File:
        raise FileNotFoundError(f"no tree.json at {location}: not a trex run in storage")
    count = 0
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        rel = info.path[len(root):].lstrip("/")
        if info.type is not pafs.FileType.File or ("/" in rel and rel.rsplit("/", 1)[-1] not in RECORDS):
            continue
        target = local_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with filesystem.open_input_stream(info.path) as src:
            target.write_bytes(src.read())
        count += 1
    return count
