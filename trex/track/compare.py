"""Compare finished searches: best dev and test score per configuration, across seeds.

    python -m trex.track.compare runs/sweep-20260101-120000 [more folders...]

Every folder holding config.json + tree.json (searched recursively) is one search. Searches
whose configs differ only in search.seed (and where they were written) form one configuration,
labelled by the policy and every other key that differs between the searches compared."""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trex.track.base import flatten
from trex.tree.store import Tree

IGNORED = ("search.seed", "name", "run_dir", "resume")


@dataclass(frozen=True)
class Search:
    folder: Path
    config: dict[str, Any]          # flattened config.json
    best_dev: float | None
    best_test: float | None


def load(folder: Path) -> Search:
    tree = Tree.load(folder / "tree.json")
    best = tree.best()
    final_path = folder / "final.json"
    final = json.loads(final_path.read_text()) if final_path.is_file() else {}
    return Search(folder, flatten(json.loads((folder / "config.json").read_text())),
                  best.score if best else None, final.get("best_test"))


def find(roots: list[Path]) -> list[Search]:
    folders = sorted({p.parent for root in roots for p in root.rglob("tree.json")
                      if (p.parent / "config.json").is_file()})
    return [load(f) for f in folders]


def differing_keys(searches: list[Search]) -> list[str]:
    keys = sorted({k for s in searches for k in s.config} - set(IGNORED))
    return [k for k in keys if len({json.dumps(s.config.get(k), sort_keys=True) for s in searches}) > 1]


def label(search: Search, keys: list[str]) -> str:
    parts = [f"policy={search.config.get('search.policy')}"]
    return " ".join(parts + [f"{k}={search.config.get(k)}" for k in keys if k != "search.policy"])


def stats(values: list[float | None]) -> str:
    """mean ± sample std [min, max] over the searches that have a score."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.fmean(vals):.3f} ± {std:.3f} [{min(vals):.3f}, {max(vals):.3f}]"


def compare(searches: list[Search]) -> str:
    """A markdown table, one row per configuration."""
    keys = differing_keys(searches)
    groups: dict[str, list[Search]] = {}
    for s in searches:
        groups.setdefault(label(s, keys), []).append(s)
    lines = ["| configuration | searches | seeds | best dev | best test |", "|---|---|---|---|---|"]
    for name, group in sorted(groups.items()):
        seeds = ",".join(str(s.config.get("search.seed")) for s in group)
        lines.append(f"| {name} | {len(group)} | {seeds} | {stats([s.best_dev for s in group])} | "
                     f"{stats([s.best_test for s in group])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run folders or folders above them (a sweep)")
    args = parser.parse_args(argv)
    searches = find(args.folders)
    if not searches:
        parser.error(f"no run folders (config.json + tree.json) under {', '.join(map(str, args.folders))}")
    print(compare(searches))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
