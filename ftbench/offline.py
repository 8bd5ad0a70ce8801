"""The one offline switch: every check of "may this process reach the Hugging Face Hub or the
web?" in ftbench and trex reads it, so they cannot disagree."""
from __future__ import annotations

import os

TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})
# Hugging Face's own switches (huggingface_hub, datasets, transformers), then trex's.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "TREX_OFFLINE")


def env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in TRUE_VALUES


def offline_variable() -> str | None:
    """The first variable that puts this process offline, or None when it may go online."""
    return next((v for v in OFFLINE_VARIABLES if env_true(v)), None)


def is_offline() -> bool:
    return offline_variable() is not None
