"""tomg_bench: fixture mapping, instruction parsing, extraction, RDKit scoring, aggregate, offline hub."""
from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("rdkit")

from ftbench import SourceUnavailable, Split, get_task
from ftbench.tomg_bench import chem
from ftbench.tomg_bench.task import spec_from_row, to_example


@pytest.fixture(scope="module")
def task():
    return get_task("tomg_bench", source="fixture")


def test_test_rows_map_to_examples(task) -> None:
    test = task.load(Split.TEST)
    assert len(test) == 9 and {e.kind for e in test} == set(task.kinds)
    add = next(e for e in test if e.kind == "AddComponent")
    assert add.id == "test-MolEdit_AddComponent-00000"
    assert add.question == "Please add a amine to the molecule CCc1ccccc1."
    assert json.loads(add.answer) == {"molecule": "CCc1ccccc1", "add": "amine"}
    assert add.solution == "NCCc1ccccc1" and add.meta == {"task": "MolEdit"}
    sub = next(e for e in test if e.kind == "SubComponent")
    assert json.loads(sub.answer) == {"molecule": "CCc1ccccc1", "add": "nitrile", "remove": "benzene_ring"}
    bonds = next(e for e in test if e.kind == "BondNum")
    assert json.loads(bonds.answer) == {"bonds": {"single": 4, "double": 1, "triple": 0, "rotatable": 1, "aromatic": 0}}


def test_train_and_dev_are_carved_from_openmolins(task) -> None:
    train, dev = task.load(Split.TRAIN), task.load(Split.DEV)
    assert len(train) + len(dev) == 18 and not {e.id for e in train} & {e.id for e in dev}
    assert all(e.id.startswith("omi-") and e.solution for e in train + dev)
    assert [e.id for e in task.load(Split.DEV)] == [e.id for e in dev]   # seeded: stable


@pytest.mark.parametrize(("instruction", "kind", "spec"), [
    ("Modify the molecule benzene ring by removing a CCOC(=O)c1ccccc1.", "DelComponent",
     {"molecule": "CCOC(=O)c1ccccc1", "remove": "benzene_ring"}),
    ("Please substitute a CC(CO)c1ccccc1 in the molecule hydroxyl with a carboxyl.", "SubComponent",
     {"molecule": "CC(CO)c1ccccc1", "remove": "hydroxyl", "add": "carboxyl"}),
    ("Modify the molecule CCN by adding a benzene ring.", "AddComponent", {"molecule": "CCN", "add": "benzene_ring"}),
    ("Please optimize the molecule CCCl to have a lower LogP value.", "LogP",
     {"molecule": "CCCl", "property": "logP", "direction": "lower"}),
    ("Modify the molecule CCCl to increase its QED value.", "QED",
     {"molecule": "CCCl", "property": "qed", "direction": "higher"}),
])
def test_openmolins_instructions_are_parsed(instruction: str, kind: str, spec: dict) -> None:
    assert spec_from_row({"SubTask": kind, "Instruction": instruction, "molecule": "C"}, kind) == spec


def test_custom_counts_are_parsed_with_absent_ones_zero() -> None:
    row = {"SubTask": "FunctionalGroup", "molecule": "C",
           "Instruction": "The molecule has 2 benzene ring groups, 1 thioether group, and 3 halo groups."}
    groups = spec_from_row(row, "FunctionalGroup")["groups"]
    assert groups["benzene_ring"] == 2 and groups["halo"] == 3 and "thioether" not in groups
    assert sum(groups.values()) == 5 and len(groups) == 18
    atoms = spec_from_row({"SubTask": "AtomNum", "molecule": "C",
                           "Instruction": "There is a molecule with 7 carbon atoms, and 1 oxygen atom."},
                          "AtomNum")["atoms"]
    assert atoms["carbon"] == 7 and atoms["oxygen"] == 1 and sum(atoms.values()) == 8


@pytest.mark.parametrize(("completion", "expected"), [
    ("Molecule: CCO", "CCO"),
    ("Let me think.\n**Molecule:** `c1ccccc1O`.", "c1ccccc1O"),
    ('{"molecule": "CC(=O)O"}', "CC(=O)O"),
    ("Molecule: CC\nOn reflection, a better one.\nMolecule: [NH3+]CCO", "[NH3+]CCO"),
    ("(Molecule: CCO)", "CCO"),
    ("**Molecule**: CCN", "CCN"),
    ("  CC(C)O  ", "CC(C)O"),
    ("I am not sure what to propose here.", ""),
    ("", ""),
])
def test_extract(task, completion: str, expected: str) -> None:
    assert task.extract(completion) == expected


def _example(kind: str, row: dict) -> object:
    return to_example({"Instruction": "x", **row}, kind, "t")


def test_success_rules() -> None:
    add = _example("AddComponent", {"molecule": "CCc1ccccc1", "added_group": "hydroxyl"})
    assert chem.success("OCCc1ccccc1", json.loads(add.answer))
    assert not chem.success("OCCc1ccc(O)cc1", json.loads(add.answer))      # two hydroxyls added
    opt = _example("LogP", {"Instruction": "Please decrease its LogP value.", "molecule": "CCCCCC"})
    assert chem.success("CCO", json.loads(opt.answer)) and not chem.success("CCCCCCCC", json.loads(opt.answer))
    bonds = {"bonds": {"single": 1, "double": 0, "triple": 0, "rotatable": 0, "aromatic": 0}}
    assert chem.success("CC", bonds) and chem.success("CO", bonds)           # zero targets are skipped
    atoms = {"atoms": {e: 2 if e == "carbon" else 0 for e in chem.ELEMENTS}}
    assert chem.success("CC", atoms) and not chem.success("CCl", atoms) and not chem.success("CCCl", atoms)
    for bad in ("", "zzqx", "C1CC"):
        assert not chem.success(bad, atoms)


def test_group_counts_follow_the_benchmark_smarts() -> None:
    m = chem.mol("CSSC.CSc1ccccc1")
    # the benchmark subtracts disulfide matches (1) from divalent-S atoms (3), not the 2 S-S atoms
    assert chem.group_count(m, "disulfide") == 1 and chem.group_count(m, "sulfide") == 2
    assert chem.group_count(chem.mol("OC(=O)c1ccccc1"), "hydroxyl") == 1   # acid OH counts as hydroxyl


def test_aggregate_is_the_mean_over_subtasks(task) -> None:
    rows = [("AtomNum", {"carbon": 1}), ("AtomNum", {"carbon": 2}), ("AtomNum", {"carbon": 3}), ("LogP", {})]
    examples = []
    for kind, counts in rows:
        if kind == "AtomNum":
            examples.append(_example(kind, {e: counts.get(e, 0) for e in chem.ELEMENTS}))
        else:
            examples.append(_example(kind, {"Instruction": "Make the LogP higher.", "molecule": "CCO"}))
    predictions = ["C", "CCC", "O", "CCCCC"]          # AtomNum 1/3 right, LogP 1/1 right
    assert task.aggregate(predictions, examples) == pytest.approx((1 / 3 + 1) / 2)
    assert task.aggregate([], []) == 0.0


def test_target_needs_a_reference(task) -> None:
    example = _example("MR", {"molecule": "CCO"})
    with pytest.raises(ValueError, match="no reference molecule"):
        task.target(example)


def test_hub_offline_names_the_source(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="phenixace/S2-TOMG-Bench"):
        get_task("tomg_bench").load(Split.TEST)
    with pytest.raises(ValueError, match="test_scale="):
        get_task("tomg_bench", test_scale="huge")


def test_missing_rdkit_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rdkit", None)
    with pytest.raises(ImportError, match=r"pip install -e \.\[chem\]"):
        chem.rdkit()
