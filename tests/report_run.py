"""A small finished run folder for the report tests: a real Tree with every kind of node
(the base model, succeeded, failed, partial fidelity, pending) and the files nodes leave."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from trex.tree.records import Cost, Diagnosis, Direction, ExperimentSpec, NodeStatus, RunResult
from trex.tree.store import Tree, write_json


def spec(objective: str, **train: object) -> ExperimentSpec:
    base = ExperimentSpec(objective=objective, direction=Direction.LEARNING_RATE)
    return base.model_copy(update={"train": base.train.model_copy(update=train)})


def make_run(run_dir: Path, hostile: str = "") -> Tree:
    """Root 0.10 -> n0001 0.40 -> {n0003 0.55 (half fidelity), n0004 pending}; root -> n0002 failed."""
    tree = Tree("math")
    nodes = run_dir / "nodes"

    def finish(node_id: str, score: float | None, fidelity: float = 1.0, error: str | None = None) -> None:
        folder = nodes / node_id
        folder.mkdir(parents=True, exist_ok=True)
        rows = [{"id": f"dev-{i}", "kind": "add", "question": f"{i} + 1?", "gold": str(i + 1),
                 "prediction": str(i + 1 if i % 2 else i), "score": float(i % 2)} for i in range(6)]
        (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "train_log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 2.0 / s}) + "\n"
                                                        for s in range(1, 11)))
        status = NodeStatus.FAILED if error else NodeStatus.SUCCEEDED
        result = RunResult(status=status, score=score, error=error, fidelity=fidelity,
                           metrics={} if error else {"dev_exact_match": score, "dev_exact_match/add": score},
                           cost=Cost(total_s=12.5, train_s=10.0, eval_s=2.5, train_samples=64, train_tokens=900),
                           predictions_path=str(folder / "predictions.jsonl"))
        tree.mark_running(node_id, 1.0)
        tree.record(node_id, result, score or 0.0, float(len([n for n in tree if n.done]) + 2))

    root = tree.add(spec("the base model"), None, 0.0, origin="root")
    finish(root.id, 0.10)
    first = tree.add(spec("higher learning rate " + hostile, learning_rate=1e-3), root.id, 1.0, origin="llm")
    failed = tree.add(spec("huge batch", batch_size=64), root.id, 1.0, origin="sampler")
    finish(first.id, 0.40)
    tree.set_diagnosis(first.id, Diagnosis(n=6, failures=3, by_type={"wrong": 3}))
    finish(failed.id, None, error="out of memory: CUDA OOM\ntraceback ...")
    half = tree.add(spec("two epochs", learning_rate=1e-3, epochs=2), first.id, 2.0, origin="hybrid")
    finish(half.id, 0.55, fidelity=0.5)
    tree.add(spec("warm start", epochs=3), first.id, 2.0, origin="llm")
    write_json(nodes / first.id / "result-test.json", {"score": 0.38})
    tree.save(run_dir / "tree.json")
    write_json(run_dir / "final.json", {"stop_reason": "max_nodes=5 reached", "wall_s": 60.0, "base_test": 0.09,
                                        "best_test": 0.38, "best_node": first.id})
    return tree


class Page(HTMLParser):
    """Collects the page's script elements and every attribute that could load a resource."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.links: list[str] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag in ("link", "iframe", "img"):
            self.links.append(tag)
        if tag == "script":
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, self._text))
            self._open = None


def parse(path: Path) -> tuple[Page, dict]:
    page = Page()
    page.feed(path.read_text())
    page.close()
    [data] = [json.loads(text) for attrs, text in page.scripts if attrs.get("id") == "trex-data"]
    return page, data
