"""A task's options: which keywords its class accepts, and `key=value` text parsed into one."""
from __future__ import annotations

import importlib
import inspect
from typing import Any

FIXED = ("name", "version", "source_url", "license", "kinds")   # attributes of a task, not options


def task_class(name: str) -> type:
    """The class registered for task `name` (imports its module)."""
    from ftbench import _REGISTRY, list_tasks

    if name not in _REGISTRY:
        raise KeyError(f"unknown task {name!r}; available: {', '.join(list_tasks())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def option_names(name: str) -> list[str]:
    """The options task `name` accepts: its constructor's keywords, less its fixed attributes."""
    return sorted(p for p in inspect.signature(task_class(name)).parameters if p not in FIXED)


def parse_option(text: str) -> tuple[str, Any]:
    """`key=value` -> (key, value), the value read as YAML (so 50 is an int, [a,b] a list)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"task option {text!r} is not key=value")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed
