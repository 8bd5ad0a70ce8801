"""cs_bench with judge=llm: verdict parsing, grading through a real local OpenAI-compatible
server (trex.llm.scripted), caching, and clear errors from a bad endpoint or reply."""
from __future__ import annotations

import socket
from typing import Any

import pytest

from ftbench import Split, get_task
from ftbench.cs_bench.judge import JudgeError, parse_verdict
from trex.llm.scripted import ScriptedEndpoint, ScriptedHTTPError


def _prompt(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


def _student(body: dict[str, Any]) -> str:
    return _prompt(body).split("Student answer: ", 1)[1].split("\n", 1)[0]


def teacher(body: dict[str, Any]) -> str:
    """A fake judge: fill-in right iff the student spelt out DNS; open-ended 8 when locality is named, else 3."""
    student = _student(body)
    if "fill-in-the-blank" in _prompt(body):
        return "1" if student.lower() == "domain name system" else "0"
    return "Score: 8" if "locality" in student.lower() else "<think>weak</think>\n**3**"


def _task(endpoint: ScriptedEndpoint, **options: Any):
    return get_task("cs_bench", source="fixture", judge="llm", judge_base_url=endpoint.base_url,
                    judge_model="judge-1", **options)


@pytest.mark.parametrize("reply, low, high, mark", [
    ("1", 0, 1, 1), ("Score: 0", 0, 1, 0), ("**1**", 0, 1, 1), ("The answer matches.\nscore：1.", 0, 1, 1),
    ("<think>0 or 1? it matches</think>\n1", 0, 1, 1), ("7/10", 1, 10, 7), ("Mark: **10**", 1, 10, 10),
])
def test_verdicts_parse(reply: str, low: int, high: int, mark: int) -> None:
    assert parse_verdict(reply, low, high) == mark


@pytest.mark.parametrize("reply, low, high, why", [
    ("", 0, 1, "no mark"), ("Correct.", 0, 1, "no mark"), ("1 because it matches", 0, 1, "no mark"),
    ("Score: 1\nI am confident.", 0, 1, "no mark"), ("2", 0, 1, "outside 0-1"), ("0", 1, 10, "outside 1-10"),
    ("11", 1, 10, "outside 1-10"),
])
def test_bad_verdicts_are_refused(reply: str, low: int, high: int, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_verdict(reply, low, high)


def test_judge_includes_open_ended_items_and_names_the_metric() -> None:
    with ScriptedEndpoint(teacher) as endpoint:
        task = _task(endpoint)
        dev, test = task.load(Split.DEV), task.load(Split.TEST)
    assert [e.id for e in dev] == [f"csbench-{i}" for i in range(2184, 2192)]   # all of valid.json
    assert len(test) == 20 and sum(e.meta["format"] == "Open-ended" for e in test) == 2
    assert (task.metric, task.version) == ("score_all_formats_llm_judge", "2.0-official-judge:judge-1")
    assert get_task("cs_bench", source="fixture").metric == "accuracy_mc_tf_fill_exact"


def test_judge_grades_fill_in_and_open_ended_items() -> None:
    with ScriptedEndpoint(teacher) as endpoint:
        task = _task(endpoint)
        dev = {e.id: e for e in task.load(Split.DEV)}
        blank, essay, choice = dev["csbench-2190"], dev["csbench-2191"], dev["csbench-2186"]
        assert task.score("DNS.", blank) == 1.0 and task.score("", essay) == 0.0   # settled without the judge
        assert task.score("A", choice) == 1.0 and not endpoint.requests
        assert task.score("Domain Name System", blank) == 1.0
        assert task.score("FTP", blank) == 0.0
        assert task.score("Locality: most accesses hit the small fast cache.", essay) == pytest.approx(0.8)
        assert task.score("Caches are expensive.", essay) == pytest.approx(0.3)
        assert len(endpoint.requests) == 4
        body = endpoint.requests[0]
        assert body["model"] == "judge-1" and body["temperature"] == 0.0
        assert "Question: The protocol that maps domain names to IP addresses is called ( ).\n" in _prompt(body)
        assert "Reference answer: DNS\nStudent answer: Domain Name System\n" in _prompt(body)
        assert "Reference answer: Programs show temporal and spatial locality" in _prompt(endpoint.requests[2])
        task.score("FTP", blank)                                   # asked once per (item, answer)
        assert len(endpoint.requests) == 4


def test_aggregate_with_the_judge_is_the_mean_of_item_scores() -> None:
    with ScriptedEndpoint(teacher) as endpoint:
        task = _task(endpoint, judge_workers=3)
        dev = task.load(Split.DEV)
        answers = {"csbench-2184": "A", "csbench-2185": "C", "csbench-2186": "A", "csbench-2187": "true",
                   "csbench-2188": "false", "csbench-2189": "9", "csbench-2190": "Domain Name System",
                   "csbench-2191": "Locality."}
        expected = {"csbench-2184": 0.0, "csbench-2185": 1.0, "csbench-2186": 1.0, "csbench-2187": 1.0,
                    "csbench-2188": 1.0, "csbench-2189": 0.0, "csbench-2190": 1.0, "csbench-2191": 0.8}
        predictions = [answers[e.id] for e in dev]
        assert task.aggregate(predictions, dev) == pytest.approx(sum(expected.values()) / len(expected))
        per_item = [task.score(p, e) for p, e in zip(predictions, dev, strict=True)]
        assert per_item == pytest.approx([expected[e.id] for e in dev])
        assert len(endpoint.requests) == 3                        # 2189-2191, each asked once


def test_an_unparsable_verdict_names_the_item_and_reply() -> None:
    with ScriptedEndpoint(lambda body: "The student is right.") as endpoint:
        task = _task(endpoint)
        blank = next(e for e in task.load(Split.DEV) if e.id == "csbench-2190")
        with pytest.raises(JudgeError, match=r"judge_model='judge-1'.*item csbench-2190: no mark.*student is right"):
            task.score("Domain Name System", blank)


def test_http_errors_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(body: dict[str, Any]) -> str:
        raise ScriptedHTTPError(404, f"model {body['model']} does not exist")

    with ScriptedEndpoint(refuse) as endpoint:
        task = _task(endpoint)
        blank = next(e for e in task.load(Split.DEV) if e.id == "csbench-2190")
        with pytest.raises(JudgeError, match=r"HTTP 404 .*model judge-1 does not exist; judge_base_url .* /v1"):
            task.score("Domain Name System", blank)
        assert len(endpoint.requests) == 1                        # a 404 is not retried


def test_a_transient_error_is_retried() -> None:
    calls: list[int] = []

    def flaky(body: dict[str, Any]) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ScriptedHTTPError(503, "busy")
        return teacher(body)

    with ScriptedEndpoint(flaky) as endpoint:
        task = _task(endpoint)
        blank = next(e for e in task.load(Split.DEV) if e.id == "csbench-2190")
        assert task.score("Domain Name System", blank) == 1.0 and len(calls) == 2


def test_an_unreachable_endpoint_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = get_task("cs_bench", source="fixture", judge="llm", judge_base_url=f"http://127.0.0.1:{port}/v1",
                    judge_model="judge-1")
    blank = next(e for e in task.load(Split.DEV) if e.id == "csbench-2190")
    with pytest.raises(JudgeError, match=f"cannot reach http://127.0.0.1:{port}/v1/chat/completions"):
        task.score("Domain Name System", blank)
