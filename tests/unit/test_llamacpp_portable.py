"""trex.llm.portable: the disassembly check flags AVX-512 and AMX code, passes AVX2 code, and
passes the llama.cpp libraries installed in this environment."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from trex.llm.portable import Finding, check_portable, scan_text

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objdump") is None,
                               reason="needs gcc and objdump (binutils)")

AVX512 = """#include <immintrin.h>
void add16(float *a, const float *b) {
    _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b)));
}"""
AMX = """#include <immintrin.h>
void tiles(const void *cfg, const void *src) {
    _tile_loadconfig(cfg); _tile_loadd(0, src, 64); _tile_release();
}"""
AMX_ASM = "void tilecfg(const void *cfg) { __asm__ volatile(\"ldtilecfg (%0)\" :: \"r\"(cfg)); }"
AVX2 = """#include <immintrin.h>
void fma8(float *a, const float *b) {
    __m256 x = _mm256_loadu_ps(a), y = _mm256_loadu_ps(b);
    _mm256_storeu_ps(a, _mm256_fmadd_ps(x, y, y));
}"""


def shared_lib(tmp_path: Path, name: str, code: str, *flags: str) -> Path:
    """A folder holding lib<name>.so compiled from code with gcc -O2 and flags."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.c").write_text(code)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", *flags, f"{name}.c", "-o", f"lib{name}.so"],
                   cwd=folder, check=True)
    (folder / f"{name}.c").unlink()
    return folder


@needs_gcc
@pytest.mark.parametrize(("name", "code", "flags", "kind", "symbol"), [
    ("avx512", AVX512, ["-mavx512f"], "AVX-512", "add16"),
    ("amx", AMX, ["-mamx-tile"], "AMX", "tiles"),
    ("amxasm", AMX_ASM, [], "AMX", "tilecfg"),
])
def test_flags_avx512_and_amx(tmp_path: Path, name: str, code: str, flags: list[str], kind: str,
                              symbol: str) -> None:
    problems = check_portable(shared_lib(tmp_path, name, code, *flags))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"lib{name}.so: ") and f" {kind} instructions" in problems[0]
    assert f"{symbol}: " in problems[0]


@needs_gcc
def test_passes_avx2_code(tmp_path: Path) -> None:
    assert check_portable(shared_lib(tmp_path, "avx2", AVX2, "-mavx2", "-mfma")) == []


def test_no_library_is_a_problem(tmp_path: Path) -> None:
    assert check_portable(tmp_path) == [f"no shared libraries in {tmp_path}"]


def test_scan_text_carries_the_symbol_across_chunks() -> None:
    findings: dict[str, Finding] = {}
    symbol = scan_text(b"\n<f>:\n\tvmovaps %ymm0,%ymm1\n<g>:\n\tret\n", "?", findings)
    assert symbol == "g" and not findings
    scan_text(b"\n\tvaddps %zmm0,%zmm1,%zmm2\n\tvpternlogd $0x1,%ymm1,%ymm2,%ymm3\n"
              b"<h>:\n\ttilerelease\n\ttilezero %tmm0\n\t{vex} vpdpbusd %ymm1,%ymm0,%ymm4\n",
              symbol, findings)
    assert findings["AVX-512"].count == 2 and list(findings["AVX-512"].examples) == ["g"]
    assert findings["AMX"].count == 2 and findings["AMX"].examples == {"h": "tilerelease"}
    assert findings["AVX-VNNI/IFMA"].count == 1


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python is not installed (the project's `cpu` extra)")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
def test_installed_llama_cpp_is_portable() -> None:
    started = time.perf_counter()
    assert check_portable() == [], "rebuild it: scripts/setup.sh (GGML_NATIVE=OFF)"
    assert time.perf_counter() - started < 20


def test_the_verdict_is_remembered_until_the_libraries_change(tmp_path: Path, monkeypatch) -> None:
    from trex.llm import portable

    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    (lib_dir / "libggml-cpu.so").write_bytes(b"v1")
    calls = []
    monkeypatch.setattr(portable, "check_portable", lambda d: calls.append(d) or ["libggml-cpu.so: 3 AVX-512"])
    cache = tmp_path / "cache.json"
    assert portable.check_portable_cached(cache, lib_dir) == ["libggml-cpu.so: 3 AVX-512"]
    assert portable.check_portable_cached(cache, lib_dir) == ["libggml-cpu.so: 3 AVX-512"] and len(calls) == 1
    (lib_dir / "libggml-cpu.so").write_bytes(b"rebuilt")
    portable.check_portable_cached(cache, lib_dir)
    assert len(calls) == 2
