"""Entry point: `python -m trex.launch +task=math [overrides]` (Hydra)."""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import ftbench
from trex.config import TASK_KEYS, ConfigError, from_dict


def task_option_overrides(argv: list[str]) -> list[str]:
    """`task.<option>=value` (or `task.options.<option>=value`) sets a task option for every task:
    it is passed to Hydra as `++task...=value` (add or override), so an option the task's yaml
    does not list reaches trex's own check, which names the accepted options."""
    out = []
    for arg in argv:
        key = re.match(r"task\.(options\.)?(\w+)=", arg)
        out.append(f"++{arg}" if key and (key.group(1) or key.group(2) not in TASK_KEYS) else arg)
    return out


def sweep_job(data: dict[str, Any], overridden: list[str]) -> dict[str, Any]:
    """In a multirun (-m), each job is its own search: its run folder (hence its W&B group) lies
    in the sweep's folder and is named after the sweep time, the task, the job number and its overrides."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN or data.get("resume") or "name" in overridden:
        return data
    sweep = Path(hc.sweep.dir)
    task = data["task"].get("name", "task") if isinstance(data.get("task"), dict) else "task"
    swept = swept_keys(sys.argv[1:])
    label = ",".join(o for o in hc.overrides.task if o.split("=", 1)[0] in swept)
    label = re.sub(r"[^\w.,=+-]", "_", label)[:100]
    name = "-".join(p for p in (sweep.name.removeprefix("sweep-"), task, str(hc.job.num), label) if p)
    return {**data, "run_dir": str(sweep), "name": name}


def swept_keys(argv: list[str]) -> set[str]:
    """The command-line overrides that sweep (a,b or range(...)): they tell one job from another."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except Exception:   # noqa: BLE001 - Hydra has parsed them already; naming must not fail a run
        return set()
    return {o.get_key_element() for o in overrides if o.is_sweep_override()}


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")   # absolute: `trex run` calls main from another module


@hydra.main(config_path=CONF_DIR, config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpx2", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    overridden = [o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task]
    try:
        data = sweep_job(OmegaConf.to_container(cfg, resolve=True), overridden)  # type: ignore[arg-type]
        run_cfg = from_dict(data, ftbench.list_tasks(), overridden)
    except ConfigError as err:
        print(f"trex: {err}", file=sys.stderr)
        sys.exit(2)
    from trex.runner import run_search
    from trex.search.loop import SearchInterrupted

    try:
        outcome = run_search(run_cfg)
    except ConfigError as err:
        print(f"trex: {err}", file=sys.stderr)
        sys.exit(2)
    except SearchInterrupted as stop:
        print(f"trex: {stop}. Resume with:\n  python -m trex.launch resume={stop.run_dir}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("trex: interrupted before the search started; nothing to resume", file=sys.stderr)
        sys.exit(130)
    if outcome.failure:
        print(f"trex: the search failed: {outcome.failure}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    sys.argv[1:] = task_option_overrides(sys.argv[1:])
    main()
