"""The researcher config group: defaults from conf/, overrides, and clear refusals."""
from pathlib import Path

import pytest

from tests.unit.test_config import run_cli
from trex.config import ConfigError, from_dict

TASKS = ["math"]


def test_defaults_and_overrides() -> None:
    cfg = from_dict({"task": {"name": "math"}}, TASKS)
    r = cfg.researcher
    assert (r.diagnose, r.memory, r.tools, r.max_tool_calls, r.insights_every) == (True, "full", True, 3, 3)
    assert r.insights_from is None and r.price_per_1k_prompt is None and 0.9 < r.similarity_threshold < 1.0
    cfg = from_dict({"task": {"name": "math"}, "researcher": {"memory": "none", "tools": False,
                                                              "price_per_1k_prompt": 0.1}}, TASKS)
    assert cfg.researcher.memory == "none" and not cfg.researcher.tools


@pytest.mark.parametrize("researcher, message", [
    ({"memory": "some"}, "researcher.memory='some' is not accepted; choose one of full, none"),
    ({"similarity_threshold": 1.5}, "researcher.similarity_threshold=1.5 must lie in (0, 1]"),
    ({"max_tool_calls": -1}, "must be >= 0"),
    ({"price_per_1k_completion": -2}, "researcher.price_per_1k_completion=-2.0 must be >= 0"),
    ({"insights_from": "/nowhere"}, "holds no insights.json"),
    ({"tools": "yes"}, "researcher.tools must be true or false"),
    ({"diagnosis": True}, "unknown key(s) researcher.diagnosis"),
])
def test_bad_values_are_refused_with_the_key(researcher: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        from_dict({"task": {"name": "math"}, "researcher": researcher}, TASKS)
    assert message in str(err.value)


def test_group_composes_with_hydra(tmp_path: Path) -> None:
    proc = run_cli("+task=math", "researcher.memory=none", "llm.structured=tool_call", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "researcher:" in proc.stdout and "memory: none" in proc.stdout and "insights_every: 3" in proc.stdout
