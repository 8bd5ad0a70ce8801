"""The contract every registered FT-Bench task keeps, checked on its bundled fixture."""
from __future__ import annotations

import pytest

import ftbench
from ftbench import HeldOutSplitError, Split, Task, get_task, list_tasks, load_for_training

GARBAGE = "zzqx vvkp"


@pytest.fixture(params=list_tasks())
def task(request: pytest.FixtureRequest) -> Task:
    return get_task(request.param, source="fixture")


def test_fixture_loads_every_split(task: Task) -> None:
    assert isinstance(task, Task)
    official = getattr(task, "split_mode", "") == "official"
    for split in Split:
        examples = task.load(split)
        if split is Split.TRAIN and official:     # a test-only benchmark: nothing to train on from it
            assert examples == [], f"{task.name}: split_mode=official must not train on the official test set"
            continue
        assert examples, f"{task.name}: empty {split} split"
        assert len({e.id for e in examples}) == len(examples), f"{task.name}: duplicate ids in {split}"
        assert all(e.question.strip() and e.answer.strip() for e in examples)
        assert all(not e.kind or e.kind in task.kinds for e in examples)


def test_version_metric_and_texts(task: Task) -> None:
    assert task.version.strip() and task.metric.strip()
    assert len(task.description) > 100 and task.catalog.strip()


def test_gold_targets_score_the_maximum(task: Task) -> None:
    for reasoning in (False, True):
        for split in (Split.DEV, Split.TEST):
            examples = task.load(split)
            predictions = [task.extract(task.target(e, reasoning)) for e in examples]
            per_sample = [task.score(p, e) for p, e in zip(predictions, examples, strict=True)]
            assert per_sample == [1.0] * len(examples), (task.name, split, reasoning, per_sample)
            assert task.aggregate(predictions, examples) == pytest.approx(1.0)


def test_empty_and_garbage_answers_score_the_minimum(task: Task) -> None:
    examples = task.load(Split.DEV)
    for completion in ("", GARBAGE):
        predictions = [task.extract(completion) for _ in examples]
        assert all(task.score(p, e) == 0.0 for p, e in zip(predictions, examples, strict=True)), (task.name, completion)
        assert task.aggregate(predictions, examples) == 0.0
    assert task.aggregate([], []) == 0.0


def test_prompts_are_chats_holding_the_question(task: Task) -> None:
    example = task.load(Split.DEV)[0]
    chat = task.messages(example.question)
    assert chat and all(set(m) == {"role", "content"} for m in chat) and chat[-1]["role"] == "user"
    assert example.question in "\n".join(m["content"] for m in chat)


def test_no_test_example_reaches_the_researcher(task: Task) -> None:
    told = task.description + task.catalog
    for example in task.load(Split.TEST):
        assert example.question.strip()[:200] not in told, f"{task.name}: test question {example.id} in texts"


def test_the_test_split_is_guarded(task: Task) -> None:
    with pytest.raises(HeldOutSplitError):
        load_for_training(task, Split.TEST)
    with pytest.raises(HeldOutSplitError):
        load_for_training(task, Split.DEV)
    train = {e.question for e in load_for_training(task)}
    assert not train & {e.question for e in task.load(Split.TEST)}, f"{task.name}: test questions in train"


def test_unknown_source_is_refused(task: Task) -> None:
    with pytest.raises(ValueError, match="source="):
        get_task(task.name, source="nowhere")


def test_registry_names_match() -> None:
    assert "math" in list_tasks()
    for name in list_tasks():
        assert get_task(name, source="fixture").name == name
    with pytest.raises(KeyError, match="available"):
        ftbench.get_task("no-such-task")
