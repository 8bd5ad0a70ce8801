"""report.html: one self-contained page (no network: script, style and data inline) that shows a
search as a tree. Written at the end of every run and refreshed after every finished node;
`trex report <run>` writes it for any run folder.

The page's data is one JSON object (`report_data`) embedded in a <script type="application/json">
element; `trex/track/report.html` holds the markup, style and script that draw it.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from trex import storage
from trex.tree.describe import metric_name
from trex.tree.records import Node, NodeStatus
from trex.tree.store import Tree, atomic_write

log = logging.getLogger(__name__)

KNOBS = ("train.learning_rate", "train.epochs", "train.lora_r", "data.max_samples", "train.batch_size")
SAMPLES = 3          # right and wrong predictions shown per node
LOSS_POINTS = 200    # a loss curve is thinned to at most this many points


def flat_spec(node: Node) -> dict[str, Any]:
    """The node's spec as dotted keys (`train.learning_rate`); lists and mappings as JSON text."""
    out: dict[str, Any] = {}
    for section in ("data", "train"):
        for key, value in getattr(node.spec, section).model_dump(mode="json").items():
            out[f"{section}.{key}"] = value if isinstance(value, (str, int, float, bool, type(None))) \
                else json.dumps(value, sort_keys=True)
    return out


def spec_diff(parent: dict[str, Any] | None, child: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, parent's value, child's value) for each key that differs; every key for a root."""
    if parent is None:
        return [(k, None, v) for k, v in child.items()]
    return [(k, parent.get(k), v) for k, v in child.items() if parent.get(k) != v]


def layout(tree: Tree) -> dict[str, tuple[float, int]]:
    """(x, depth) per node: leaves left to right in depth-first order, a parent centred over its children."""
    places: dict[str, tuple[float, int]] = {}
    next_leaf = 0.0

    def place(node: Node) -> float:
        nonlocal next_leaf
        kids = tree.children(node.id)
        if not kids:
            x, next_leaf = next_leaf, next_leaf + 1
        else:
            xs = [place(k) for k in kids]
            x = (xs[0] + xs[-1]) / 2
        places[node.id] = (x, node.depth)
        return x

    place(tree.root)
    return places


def _read(location: str) -> bytes | None:
    try:
        return storage.read_bytes(location) if storage.is_uri(location) else Path(location).read_bytes()
    except (OSError, ValueError):
        return None


def _jsonl(location: str) -> list[dict[str, Any]]:
    data = _read(location)
    if data is None:
        return []
    rows = []
    for line in data.decode(errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue     # a line cut short by a crash
    return rows


def node_files(node: Node) -> dict[str, Any]:
    """What a finished node's artifacts add: its loss curve and sample right/wrong predictions."""
    if node.result is None or not node.result.predictions_path:
        return {"loss": [], "right": [], "wrong": []}
    predictions = node.result.predictions_path
    folder = predictions.partition("?")[0].rsplit("/", 1)[0]
    query = predictions.partition("?")[2]
    train_log = f"{folder}/train_log.jsonl" + (f"?{query}" if query else "")
    loss = [(r["step"], r["loss"]) for r in _jsonl(train_log) if "loss" in r and "step" in r]
    loss = loss[:: max(1, len(loss) // LOSS_POINTS)]
    rows = _jsonl(predictions)
    keep = ("id", "kind", "question", "gold", "prediction", "score")

    def pick(good: bool) -> list[dict[str, Any]]:
        chosen = [r for r in rows if (float(r.get("score") or 0) >= 1.0) == good][:SAMPLES]
        return [{k: (str(r.get(k))[:400] if k != "score" else r.get(k)) for k in keep} for r in chosen]

    return {"loss": loss, "right": pick(True), "wrong": pick(False)}


def test_score(run_dir: Path, node: Node) -> float | None:
    data = _read(str(run_dir / "nodes" / node.id / "result-test.json"))
    if data is None:
        return None
    try:
        return json.loads(data).get("score")
    except json.JSONDecodeError:
        return None


def node_entry(node: Node, tree: Tree, place: tuple[float, int], files: dict[str, Any],
               test: float | None) -> dict[str, Any]:
    spec = flat_spec(node)
    parent = flat_spec(tree[node.parent_id]) if node.parent_id else None
    result = node.result
    cost = result.cost if result else None
    return {
        "id": node.id, "parent": node.parent_id, "depth": node.depth, "x": place[0],
        "status": node.status.value, "score": node.score, "test": test, "proxy": node.proxy,
        "fidelity": result.fidelity if result else None, "dev_fraction": result.dev_fraction if result else None,
        "origin": node.origin, "objective": node.spec.objective, "rationale": node.spec.rationale,
        "direction": node.spec.direction.value, "spec": spec, "diff": spec_diff(parent, spec),
        "by_kind": {k.split("/", 1)[1]: v for k, v in (result.metrics if result else {}).items()
                    if k.startswith("dev_") and "/" in k},
        "diagnosis": None if node.diagnosis is None else {
            "n": node.diagnosis.n, "failures": node.diagnosis.failures,
            "by_type": {getattr(k, "value", str(k)): v for k, v in node.diagnosis.by_type.items()}},
        "cost": None if cost is None else {
            "total_s": round(cost.total_s, 1), "train_s": round(cost.train_s, 1), "eval_s": round(cost.eval_s, 1),
            "train_samples": cost.train_samples, "train_tokens": cost.train_tokens,
            "llm_tokens": node.proposal_usage.prompt_tokens + node.proposal_usage.completion_tokens},
        "error": (result.error or "").splitlines()[0][:500] if result and result.error else None,
        **files,
    }


def best_so_far(nodes: Iterable[Node]) -> list[tuple[int, float]]:
    """(nodes finished, best dev score so far, as `Tree.best` ranks them), in finishing order."""
    done = sorted((n for n in nodes if n.done and n.finished_at), key=lambda n: n.finished_at or 0)
    series, best = [], None
    for count, node in enumerate(done, 1):
        if node.status is NodeStatus.SUCCEEDED and node.score is not None:
            best = node.score if best is None else max(best, node.score)
        if best is not None:
            series.append((count, best))
    return series


def report_data(run_dir: Path, cache: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the page shows, from a run folder (tree.json, final.json, the nodes' files).
    `cache` keeps finished nodes' file contents between refreshes."""
    tree = Tree.load(run_dir / "tree.json")
    final = json.loads(_read(str(run_dir / "final.json")) or b"null")
    places = layout(tree)
    cache = {} if cache is None else cache
    nodes = []
    for node in tree:
        if node.id not in cache or not node.done:
            files = node_files(node)
            if node.done:
                cache[node.id] = files
        nodes.append(node_entry(node, tree, places[node.id], cache.get(node.id) or node_files(node),
                                test_score(run_dir, node)))
    best = tree.best()
    metric = metric_name(n.result for n in tree)
    config = json.loads(_read(str(run_dir / "config.json")) or b"{}")
    return {
        "task": (config.get("task") or {}).get("name", "search"), "metric": metric, "run": run_dir.name, "final": final,
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "best": best.id if best else None, "lineage": [n.id for n in tree.lineage(best.id)] if best else [],
        "nodes": nodes, "progress": best_so_far(tree), "knobs": list(KNOBS),
    }


def render(data: dict[str, Any]) -> str:
    """The page: the template with the data embedded (`</` escaped so no text can end the script)."""
    template = resources.files("trex.track").joinpath("report.html").read_text()
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    return template.replace("__TREX_DATA__", payload).replace("__TREX_TITLE__", f"trex · {data['run']}")


def write_report(run_dir: Path, cache: dict[str, dict[str, Any]] | None = None) -> Path:
    path = run_dir / "report.html"
    atomic_write(path, render(report_data(run_dir, cache)))
    return path


class ReportWriter:
    """Refreshes report.html after a save when a node has finished since the last refresh;
    a failure to write it is logged and never stops the search."""

    def __init__(self, run_dir: Path) -> None:
        self.cache: dict[str, dict[str, Any]] = {}
        self.run_dir, self._seen = run_dir, -1

    def __call__(self) -> None:
        try:
            tree = Tree.load(self.run_dir / "tree.json")
            finished = sum(n.done for n in tree) + (self.run_dir / "final.json").is_file()
            if finished != self._seen:
                write_report(self.run_dir, self.cache)
                self._seen = finished
        except Exception as err:  # noqa: BLE001 - the report is a view; the search goes on
            log.warning("could not refresh %s: %s", self.run_dir / "report.html", err)
