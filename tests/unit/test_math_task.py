import pytest

from ftbench import HeldOutSplitError, get_task, list_tasks, load_for_training
from ftbench.base import Split
from ftbench.math.task import KINDS, generate


def test_registry_lists_math_and_rejects_unknown() -> None:
    assert "math" in list_tasks()
    with pytest.raises(KeyError, match=r"unknown task 'nope'; available: .*math"):
        get_task("nope")


def test_generation_is_deterministic_and_cycles_kinds() -> None:
    a, b = generate(Split.DEV, 40), generate(Split.DEV, 40)
    assert a == b
    assert [e.kind for e in a[:8]] == list(KINDS) * 2
    assert len({e.question for e in a}) == 40


def test_splits_are_disjoint_and_sized() -> None:
    task = get_task("math", train_size=500, dev_size=60, test_size=80)
    train, dev, test = (task.load(s) for s in Split)
    assert (len(train), len(dev), len(test)) == (500, 60, 80)
    q = [{e.question for e in split} for split in (train, dev, test)]
    assert not (q[0] & q[1]) and not (q[0] & q[2]) and not (q[1] & q[2])


def test_answers_match_worked_solutions() -> None:
    for e in generate(Split.TRAIN, 200):
        assert e.solution.endswith(f"The answer is {e.answer}.")
        assert int(e.answer) >= 0


def test_extract_takes_last_integer() -> None:
    task = get_task("math")
    assert task.extract("12 + 30 = 42. The answer is 42.") == "42"
    assert task.extract("The answer is 1,250.") == "1250"
    assert task.extract("I do not know") == ""
    assert task.extract("The answer is 007") == "7"


def test_score_and_aggregate() -> None:
    task = get_task("math")
    ex = generate(Split.DEV, 2)
    assert task.score(ex[0].answer, ex[0]) == 1.0
    assert task.score(str(int(ex[0].answer) + 1), ex[0]) == 0.0
    preds = [ex[0].answer, "0", ex[0].answer, ex[0].answer]
    assert task.aggregate(preds, [ex[0], ex[1], ex[0], ex[0]]) == 0.75
    assert task.aggregate([], []) == 0.0


def test_training_loader_refuses_dev_and_test() -> None:
    task = get_task("math", train_size=50)
    assert len(load_for_training(task)) == 50
    for split in ("dev", "test"):
        with pytest.raises(HeldOutSplitError):
            load_for_training(task, split)
