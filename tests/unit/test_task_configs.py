"""conf/task/<name>.yaml exists for every registered task, and the paper command it documents composes."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

import ftbench
from trex.config import from_dict

CONF = Path(__file__).parents[2] / "conf"


def paper_command(name: str) -> list[str]:
    """The overrides of the `python -m trex.launch` command in the yaml's comment."""
    text = (CONF / "task" / f"{name}.yaml").read_text()
    lines = re.search(r"#   python -m trex\.launch (.*?)\n(?!#     )", text, re.S)
    assert lines, f"conf/task/{name}.yaml documents no trex.launch command"
    return shlex.split(re.sub(r"\\\n#\s+", " ", lines.group(1)))


@pytest.mark.parametrize("name", ftbench.list_tasks(available_only=False))
def test_every_task_has_a_config(name: str) -> None:
    data = yaml.safe_load((CONF / "task" / f"{name}.yaml").read_text())
    assert data["name"] == name and "reference_score" in data
    assert name == "math" or "source" in data["options"]   # math is generated, not read


@pytest.mark.parametrize("name", sorted(ftbench.PAPER_TREX_SCORES))
def test_paper_command_composes_and_validates(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    text = (CONF / "task" / f"{name}.yaml").read_text()
    assert f"TREX scored {ftbench.PAPER_TREX_SCORES[name]}" in text
    overrides = paper_command(name)
    assert overrides[0] == f"+task={name}" and "search.max_nodes=21" in overrides
    if name not in ftbench.list_tasks():
        pytest.skip(f"ftbench/{name} is not there yet")
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("config", overrides=[*overrides, "task.options.source=fixture"])
    try:
        run = from_dict(OmegaConf.to_container(cfg, resolve=True), ftbench.list_tasks())
    except Exception as err:   # a task whose optional dependency (RDKit) is absent
        if "cannot be imported" in str(err):
            pytest.skip(str(err))
        raise
    assert run.model.name_or_path == "Qwen/Qwen3-1.7B" and run.executor.max_train_samples == 50_000
    assert run.search.max_nodes == 21 and run.llm.backend == "openai"


@pytest.mark.parametrize("name", ftbench.list_tasks())
def test_task_dot_option_sets_an_option_for_every_task(name: str) -> None:
    """`task.<option>=` works on every task (as `task.options.<option>=` does), and a misspelt
    option gets trex's own error naming the accepted ones, not Hydra's struct error."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from trex.config import ConfigError
    from trex.launch import task_option_overrides

    option = "train_size" if name == "math" else "source"
    value = 64 if name == "math" else "fixture"
    args = task_option_overrides([f"+task={name}", f"task.{option}={value}"])
    assert args[1] == f"++task.{option}={value}"
    assert task_option_overrides(["task.options.seed=1", "task.name=x", "task=math", "search.x=1"]) == [
        "++task.options.seed=1", "task.name=x", "task=math", "search.x=1"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        good = compose("config", overrides=args)
        bad = compose("config", overrides=task_option_overrides([f"+task={name}", f"task.{option}x=1"]))
    try:
        run = from_dict(OmegaConf.to_container(good, resolve=True), ftbench.list_tasks())
    except ConfigError as err:   # a task whose optional dependency (RDKit) is absent
        if "cannot be imported" in str(err):
            pytest.skip(str(err))
        raise
    assert run.task.options[option] == value
    with pytest.raises(ConfigError, match=rf"unknown option\(s\) task\.{option}x .*accepted: .*{option}"):
        from_dict(OmegaConf.to_container(bad, resolve=True), ftbench.list_tasks())
