"""Is the installed llama.cpp build portable? Scan its shared libraries for AVX-512 and AMX code.

A llama-cpp-python wheel compiled with -march=native (GGML_NATIVE=ON) on a CPU with AVX-512 or
AMX dies with SIGILL on one without them. scripts/setup.sh builds with GGML_NATIVE=OFF and runs
this check to decide whether an installed build can stay. Every library is disassembled with
`objdump -d` and its text scanned with regular expressions; a hit is reported, not excused
(a GGML_NATIVE=OFF build has no runtime-dispatched AVX-512 code).

CLI: `python -m trex.llm.portable [LIB_DIR]` prints the verdict; exit 1 on problems.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

_ELF_MAGIC = b"\x7fELF"
_CHUNK = 1 << 22
_EXAMPLES = 3
# EVEX-only operands (zmm, xmm/ymm16-31, mask registers, embedded broadcast and rounding) and
# mnemonics that exist only as AVX-512 (on xmm0-15/ymm0-15 they need AVX-512VL).
_AVX512_OPERAND = rb"%zmm\d|%[xy]mm(?:1[6-9]|2\d|3[01])\b|%k[0-7]\b|\{1to\d+\}|\{(?:r[nduz]-)?sae\}"
_AVX512_MNEMONIC = (rb"vpternlog[dq]|vperm[it]2\w+|vpermw|vpermb|vpro[lr]v?[dq]|valign[dq]"
                    rb"|vp(?:max|min)[su]q|vpabsq|vpsrav?q|vpmullq|vpmov(?:u?s)?(?:q[bwd]|d[bw]|wb)"
                    rb"|vrcp14\w+|vrsqrt14\w+|vscalef\w+|vgetexp\w+|vgetmant\w+|vrndscale\w+"
                    rb"|vfixupimm\w+|vrange\w+|vreduce\w+|vp?compress\w+|vp?expand\w+|vpconflict\w+"
                    rb"|vplzcnt\w+|vpopcnt\w+|vpsh[lr]dv?[wdq]|vcvtt?p[sd]2u?qq|vcvtu?qq2p[sd]"
                    rb"|vcvtt?(?:p[sd]|s[sd])2u(?:dq|si)|vcvtu(?:dq|si)2\w+|vdbpsadbw|vpmultishiftqb"
                    rb"|v(?:shuf|insert|extract)[if](?:32x4|64x2|32x8|64x4)"
                    rb"|vbroadcast[if](?:32x2|32x4|64x2|32x8|64x4)|vpbroadcastm\w+"
                    rb"|vpdpbusds?|vpdpwssds?|vpmadd52[lh]uq|vdpbf16ps|vcvtne2?ps2bf16")
_AMX_MNEMONIC = rb"ldtilecfg|sttilecfg|tileloaddt?1?|tilestored|tilezero|tilerelease|tdp\w+"
# Mnemonics are matched at the start of an instruction line, operands anywhere (a `%` or `{`
# starts each one, which keeps the scan fast). `{vex}` marks AVX-VNNI/IFMA/NE-CONVERT forms.
_MNEMONIC = re.compile(rb"\n\t(?:(?P<amx>" + _AMX_MNEMONIC + rb")|(?P<vex>\{vex\} )?(?:"
                       + _AVX512_MNEMONIC + rb"))(?=[ \n])")
_OPERAND = re.compile(_AVX512_OPERAND)
# `objdump -d --no-show-raw-insn --no-addresses` prints `<symbol>:` then `\tmnemonic operands`.
_HEADER_END = b">:\n"


@dataclass
class Finding:
    """How often one kind of non-portable instruction occurs in a library, with examples."""

    kind: str
    count: int = 0
    examples: dict[str, str] = field(default_factory=dict)   # symbol -> first such instruction

    def add(self, symbol: str, instruction: str) -> None:
        self.count += 1
        if symbol not in self.examples and len(self.examples) < _EXAMPLES:
            self.examples[symbol] = instruction


def llama_cpp_lib_dir() -> Path:
    """llama_cpp's `lib` folder, found without importing llama_cpp (which loads the libraries)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("llama_cpp (llama-cpp-python) is not installed")
    return Path(spec.origin).parent / "lib"


def shared_libraries(lib_dir: Path) -> list[Path]:
    """The ELF shared libraries in lib_dir, each once: wheels hold libfoo.so, libfoo.so.0 and
    libfoo.so.0.1.2 as copies, so symlinks and files with the same content count once."""
    libs: dict[bytes, Path] = {}
    for path in sorted(lib_dir.glob("*.so*"), key=lambda p: (len(p.name), p.name)):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == _ELF_MAGIC:
                    f.seek(0)
                    libs.setdefault(hashlib.file_digest(f, "sha1").digest(), path)
    return sorted(libs.values())


def _symbol_at(text: bytes, pos: int, symbol: str) -> str:
    """The symbol whose `<name>:` header is the last one before pos in text, else symbol."""
    end = text.rfind(_HEADER_END, 0, pos)
    if end < 0:
        return symbol
    return text[text.rfind(b"\n", 0, end) + 2:end].decode(errors="replace")


def _line_at(text: bytes, pos: int) -> str:
    start, end = text.rfind(b"\n", 0, pos) + 1, text.find(b"\n", pos)
    return text[start:end if end >= 0 else len(text)].strip().decode(errors="replace")


def scan_text(text: bytes, symbol: str, findings: dict[str, Finding]) -> str:
    """Add the non-portable instructions in objdump output (whole lines, each one starting with
    a newline) to findings, by kind; return the symbol that text ends in."""
    hits: dict[int, str] = {}
    for match in _OPERAND.finditer(text):
        hits.setdefault(text.rfind(b"\n", 0, match.start()) + 1, "AVX-512")
    for match in _MNEMONIC.finditer(text):
        kind = "AMX" if match["amx"] else "AVX-VNNI/IFMA" if match["vex"] else "AVX-512"
        hits[match.start() + 1] = kind
    for line_start, kind in sorted(hits.items()):
        findings.setdefault(kind, Finding(kind)).add(_symbol_at(text, line_start, symbol),
                                                     _line_at(text, line_start))
    return _symbol_at(text, len(text), symbol)


def scan_library(lib: Path) -> dict[str, Finding]:
    """Disassemble lib with objdump, streaming its output; the findings by kind."""
    cmd = ["objdump", "-d", "--no-show-raw-insn", "--no-addresses", str(lib)]
    findings: dict[str, Finding] = {}
    symbol, tail = "?", b"\n"
    with tempfile.TemporaryFile() as err, \
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(_CHUNK):
            text = tail + chunk
            cut = text.rfind(b"\n")
            symbol = scan_text(text[:cut + 1], symbol, findings)
            tail = text[cut:]
        proc.wait()
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"objdump failed on {lib} (exit {proc.returncode}): "
                               f"{err.read().decode(errors='replace').strip()}")
    if tail.strip():
        scan_text(tail + b"\n", symbol, findings)
    return findings


def _describe(lib: Path, finding: Finding) -> str:
    examples = "; ".join(f"{sym}: {insn}" for sym, insn in finding.examples.items())
    return f"{lib.name}: {finding.count} {finding.kind} instructions, e.g. {examples}"


def check_portable(lib_dir: Path | None = None) -> list[str]:
    """Problems that make llama_cpp's libraries (or those in lib_dir) unfit for other x86-64
    CPUs: AVX-512, AMX or AVX-VNNI/IFMA instructions, or no library at all. Empty: portable."""
    lib_dir = lib_dir if lib_dir is not None else llama_cpp_lib_dir()
    libs = shared_libraries(lib_dir) if lib_dir.is_dir() else []
    if not libs:
        return [f"no shared libraries in {lib_dir}"]
    with ThreadPoolExecutor() as pool:
        results = list(pool.map(scan_library, libs))
    return [_describe(lib, finding) for lib, findings in zip(libs, results, strict=True)
            for finding in findings.values()]


def check_portable_cached(cache: Path, lib_dir: Path | None = None) -> list[str]:
    """check_portable, remembered in `cache` (JSON) for as long as the libraries' files are unchanged,
    so a launch pays the seconds of disassembly once per build."""
    lib_dir = lib_dir if lib_dir is not None else llama_cpp_lib_dir()
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(lib_dir.glob("*.so*")) if p.is_file()]
    try:
        saved = json.loads(cache.read_text())
        if saved["lib_dir"] == str(lib_dir) and saved["stamp"] == stamp:
            return list(saved["problems"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    problems = check_portable(lib_dir)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"lib_dir": str(lib_dir), "stamp": stamp, "problems": problems}))
    return problems


def main(argv: list[str] | None = None) -> int:
    """CLI: print the verdict on LIB_DIR (default: llama_cpp's); 1 on problems."""
    args = sys.argv[1:] if argv is None else argv
    try:
        lib_dir = Path(args[0]) if args else llama_cpp_lib_dir()
    except FileNotFoundError as err:
        print(f"not portable: {err}")
        return 1
    started = time.perf_counter()
    problems = check_portable(lib_dir)
    seconds = time.perf_counter() - started
    for problem in problems:
        print(f"not portable: {problem}")
    if not problems:
        print(f"portable: no AVX-512, AMX or AVX-VNNI instructions in "
              f"{len(shared_libraries(lib_dir))} libraries in {lib_dir} ({seconds:.1f}s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
