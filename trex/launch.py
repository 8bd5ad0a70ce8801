"""Entry point: `python -m trex.launch +task=math [overrides]` (Hydra)."""
from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import ftbench
from trex.config import ConfigError, from_dict


@hydra.main(config_path="../conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpx2", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    overridden = [o.split("=", 1)[0] for o in HydraConfig.get().overrides.task]
    try:
        data = OmegaConf.to_container(cfg, resolve=True)
        run_cfg = from_dict(data, ftbench.list_tasks(), overridden)  # type: ignore[arg-type]
    except ConfigError as err:
        print(f"trex: {err}", file=sys.stderr)
        sys.exit(2)
    from trex.runner import run_search

    try:
        run_search(run_cfg)
    except ConfigError as err:
        print(f"trex: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
