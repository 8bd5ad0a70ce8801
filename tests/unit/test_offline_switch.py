"""One offline switch: every check that decides whether the Hub or the web may be reached agrees."""
from __future__ import annotations

import pytest

from ftbench.offline import OFFLINE_VARIABLES, is_offline, offline_variable
from trex.agent.sources import hub_offline
from trex.agent.tools import offline_flags


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_variable_means_online(online: pytest.MonkeyPatch) -> None:
    assert (is_offline(), hub_offline(), offline_flags(), offline_variable()) == (False, False, False, None)


@pytest.mark.parametrize("name", OFFLINE_VARIABLES)
@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_every_variable_and_truthy_spelling_puts_every_check_offline(online: pytest.MonkeyPatch, name: str,
                                                                     value: str) -> None:
    online.setenv(name, value)
    assert (is_offline(), hub_offline(), offline_flags(), offline_variable()) == (True, True, True, name)


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_false_values_stay_online(online: pytest.MonkeyPatch, value: str) -> None:
    online.setenv("HF_HUB_OFFLINE", value)
    assert not is_offline() and not hub_offline() and not offline_flags()


def test_hub_loads_name_the_variable_that_put_them_offline(online: pytest.MonkeyPatch) -> None:
    from trex.data.ops import RecipeError, load_source
    from trex.tree.records import Source, SourceKind

    online.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(RecipeError, match="TRANSFORMERS_OFFLINE=1"):
        load_source(Source(kind=SourceKind.HUB, name="org/some-data"), None, 0)  # type: ignore[arg-type]
