"""The `trex` command: run, resume, status, report, compare, diff, export, reproduce.

`trex run ...` is the Hydra app of `python -m trex.launch ...` with the same overrides;
the other subcommands read a run folder (tree.json and the nodes' files).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from trex.tree.describe import score_text
from trex.tree.records import Node
from trex.tree.store import Tree

STATUS_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "RUNNING": "yellow", "PENDING": "dim"}


def run_app(overrides: list[str]) -> None:
    """The Hydra app, exactly as `python -m trex.launch <overrides>`."""
    from trex import launch

    sys.argv = ["trex", *launch.task_option_overrides(overrides)]
    launch.main()


def tree_of(run: str) -> tuple[Path, Tree]:
    run_dir = Path(run)
    if not (run_dir / "tree.json").is_file():
        raise SystemExit(f"trex: {run} is not a trex run folder (no tree.json)")
    return run_dir, Tree.load(run_dir / "tree.json")


def finished(run_dir: Path) -> bool:
    """The run has ended: final.json exists and is not older than tree.json (a resumed run
    keeps its previous session's final.json until it ends again)."""
    final, tree = run_dir / "final.json", run_dir / "tree.json"
    return final.is_file() and final.stat().st_mtime >= tree.stat().st_mtime - 1.0


def status_table(run_dir: Path, tree: Tree) -> Table:
    """One row per node: parent, status, dev score, fidelity, what it tried, time and examples."""
    best = tree.best()
    final = run_dir / "final.json"
    state = json.loads(final.read_text())["stop_reason"] if finished(run_dir) else "running"
    table = Table(title=f"{run_dir.name}: {len(tree)} nodes, best {score_text(best.score if best else None)}"
                        f"{f' ({best.id})' if best else ''} · {state}")
    for column in ("node", "parent", "status", "dev", "fidelity", "origin", "objective", "seconds", "examples"):
        table.add_column(column, justify="right" if column in ("dev", "fidelity", "seconds", "examples") else "left")
    for node in tree:
        r = node.result
        table.add_row(node.id + (" *" if best and node.id == best.id else ""), node.parent_id or "-",
                      f"[{STATUS_STYLE[node.status.value]}]{node.status.value}[/]", score_text(node.score),
                      f"{r.fidelity:.2f}" if r else "-", node.origin or "-", node.spec.objective[:60],
                      f"{r.cost.total_s:.0f}" if r else "-", str(r.cost.train_samples) if r else "-")
    return table


def status(run: str, watch: float | None, console: Console) -> None:
    run_dir, tree = tree_of(run)
    if not watch:
        console.print(status_table(run_dir, tree))
        return
    from rich.live import Live

    with Live(status_table(run_dir, tree), console=console, refresh_per_second=1) as live:
        while not finished(run_dir):
            time.sleep(watch)
            try:
                live.update(status_table(run_dir, Tree.load(run_dir / "tree.json")))
            except (OSError, ValueError):
                continue      # tree.json is replaced atomically; a read may still race a rename
        live.update(status_table(run_dir, Tree.load(run_dir / "tree.json")))


def diff_table(tree: Tree, a: Node, b: Node) -> Table:
    from trex.track.html_report import flat_spec

    table = Table(title=f"{a.id} ({score_text(a.score)}) vs {b.id} ({score_text(b.score)})")
    for column in ("key", a.id, b.id):
        table.add_column(column)
    sa, sb = flat_spec(a), flat_spec(b)
    rows = [("objective", a.spec.objective, b.spec.objective), ("direction", a.spec.direction.value,
                                                                  b.spec.direction.value)]
    rows += [(k, str(sa.get(k)), str(sb.get(k))) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
    lineage = {n.id for n in tree.lineage(a.id)} & {n.id for n in tree.lineage(b.id)}
    rows.append(("common ancestors", ", ".join(sorted(lineage)) or "-", ""))
    for row in rows:
        table.add_row(*row)
    return table


def node_of(tree: Tree, node_id: str) -> Node:
    if node_id == "best" and tree.best():
        return tree.best()  # type: ignore[return-value]
    for node in tree:
        if node.id == node_id:
            return node
    raise SystemExit(f"trex: no node {node_id!r} (nodes: {', '.join(n.id for n in tree)}; or `best`)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="trex", description="Agent-driven tree search over LLM fine-tuning.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run a search: trex run +task=math [overrides] (as python -m trex.launch)",
                   add_help=False)
    p = sub.add_parser("resume", help="continue a stopped run: trex resume <run> [overrides]")
    p.add_argument("run")
    p = sub.add_parser("status", help="a table of a run's nodes")
    p.add_argument("run")
    p.add_argument("--watch", type=float, nargs="?", const=2.0, help="refresh every N seconds until the run ends")
    p = sub.add_parser("report", help="write the run's report.html (one self-contained file)")
    p.add_argument("run")
    p = sub.add_parser("compare", help="mean and spread per setting over a multirun sweep")
    p.add_argument("sweep")
    p = sub.add_parser("diff", help="what differs between two nodes' specs")
    p.add_argument("run")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("export", help="the node's adapter (or merged model), tokenizer, model card and recipe")
    p.add_argument("run")
    p.add_argument("--node", default="best", help="a node id, or best (default)")
    p.add_argument("--out", required=True, type=Path, help="a new folder")
    p.add_argument("--merge", action="store_true", help="write a full model with the adapter merged in")
    p.add_argument("--push-to-hub", metavar="REPO", help="also push the folder to this Hub repo (private)")
    p = sub.add_parser("reproduce", help="train an exported recipe.yaml again and score it")
    p.add_argument("recipe", type=Path)
    p.add_argument("--out", required=True, type=Path)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("run", "resume") and not (len(argv) > 1 and argv[1] in ("-h", "--help")):
        rest = argv[1:] if argv[0] == "run" else [f"resume={argv[1]}", *argv[2:]] if len(argv) > 1 else []
        if argv[0] == "resume" and not rest:
            parser().parse_args(argv)      # prints the usage error
        run_app(rest)
        return 0
    args = parser().parse_args(argv)
    console = Console()
    if args.command == "status":
        status(args.run, args.watch, console)
    elif args.command == "report":
        from trex.track.html_report import write_report

        run_dir, _ = tree_of(args.run)
        console.print(f"report: {write_report(run_dir).resolve().as_uri()}")
    elif args.command == "compare":
        from trex.track import compare

        return compare.main([args.sweep]) or 0
    elif args.command == "diff":
        _, tree = tree_of(args.run)
        console.print(diff_table(tree, node_of(tree, args.a), node_of(tree, args.b)))
    elif args.command in ("export", "reproduce"):
        from trex import export

        try:
            if args.command == "export":
                out = export.export(args.run, args.out, args.node, args.merge, args.push_to_hub)
                console.print(f"exported to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
            else:
                scores = export.reproduce(args.recipe, args.out)
                console.print(" · ".join(f"{k} {score_text(v)}" for k, v in scores.items()))
        except export.ExportError as err:
            print(f"trex: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
