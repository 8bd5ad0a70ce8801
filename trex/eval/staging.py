"""Adapters in storage, made readable by an evaluation server on another machine.

With `executor.engine=openai` the executor asks a server (vLLM with runtime LoRA loading) to
load each trained adapter by path. Under a storage URI there is no shared disk, so the path must
exist on the server's machine: a small Ray actor pinned to the server's node downloads the adapter
from storage into a node-local cache and answers with the local path. The server's node is the
Ray node whose address is the server's host; a loopback host is the executor's own node.
"""
from __future__ import annotations

import hashlib
import ipaddress
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse

from trex import storage

KEEP = 8     # staged adapters kept per cache; a server may reload an evicted adapter from its path


def server_ip(base_url: str) -> str:
    """The IP address of the server at `base_url` (its host name resolved)."""
    host = urlparse(base_url).hostname
    if not host:
        raise ValueError(f"evaluation endpoint {base_url!r} has no host; expected e.g. http://10.0.0.5:8000/v1")
    try:
        return socket.gethostbyname(host)
    except OSError as err:
        raise RuntimeError(f"evaluation endpoint host {host!r} does not resolve ({err})") from err


def server_node(ip: str, nodes: Sequence[dict], own_node: str) -> str:
    """The Ray node id that runs the server at `ip`: a loopback address is `own_node`; otherwise
    an alive node with that address (any of them: nodes sharing an address share a machine)."""
    if ipaddress.ip_address(ip).is_loopback:
        return own_node
    for node in nodes:
        if node.get("Alive") and node.get("NodeManagerAddress") == ip:
            return str(node["NodeID"])
    known = sorted({str(n.get("NodeManagerAddress")) for n in nodes if n.get("Alive")})
    raise RuntimeError(f"the evaluation server at {ip} is not on a node of this Ray cluster (nodes: {known}), so "
                       "an adapter in storage cannot be put where it reads: run the server on a Ray node, or use "
                       "a plain-path `storage` that both machines mount")


class AdapterCache:
    """The body of the staging actor: downloads adapters from storage into `root` on its node."""

    def __init__(self, root: str | None = None) -> None:
        # One folder per cache: executors sharing a node never prune each other's copies.
        self.root = Path(root or Path(tempfile.gettempdir()) / "trex-served-adapters") / uuid.uuid4().hex[:8]
        self.root.mkdir(parents=True, exist_ok=True)

    def stage(self, location: str) -> str:
        """A fresh local copy of the adapter folder at `location` (it may have been retrained in
        place since the last call); its path. The oldest copies beyond KEEP are removed."""
        target = self.root / f"{hashlib.sha256(location.encode()).hexdigest()[:12]}-{uuid.uuid4().hex[:8]}"
        storage.download(location, target)
        copies = [p for p in self.root.iterdir() if not p.name.startswith(".")]
        for stale in sorted(copies, key=lambda p: p.stat().st_mtime_ns)[:-KEEP]:
            shutil.rmtree(stale, ignore_errors=True)
        return str(target)


def ray_stager(base_url: str, cache_root: str | None = None) -> Callable[[str], str]:
    """`stage(location) -> path on the server's machine`, through an AdapterCache actor on the node
    of the server at `base_url` (this process must be connected to Ray)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = server_node(server_ip(base_url), ray.nodes(), ray.get_runtime_context().get_node_id())
    actor = ray.remote(num_cpus=0)(AdapterCache).options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(cache_root)

    def stage(location: str) -> str:
        return str(ray.get(actor.stage.remote(location)))  # type: ignore[attr-defined]  # Ray's actor method typing

    return stage


def local_stager(cache_root: str | None = None) -> Callable[[str], str]:
    """`stage` without Ray: the server runs on this machine."""
    return AdapterCache(cache_root).stage


def stager_for(base_url: str, cache_root: str | None = None) -> Callable[[str], str]:
    """The stager for this process: through Ray when connected, else on this machine (loopback only)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray_stager(base_url, cache_root)
    if not ipaddress.ip_address(server_ip(base_url)).is_loopback:
        raise RuntimeError(f"the evaluation server {base_url} is on another machine and this executor is not in a "
                           "Ray cluster, so an adapter in storage cannot be staged for it")
    return local_stager(cache_root)

