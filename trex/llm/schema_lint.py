"""Finds the reply-schema constructs that llama.cpp's JSON-schema-to-grammar converter cannot
handle, so a bad schema fails up front, naming its path. In llama-cpp-python 0.3.36 an empty
enum, anyOf or type list becomes an empty grammar rule and the server dies (SIGSEGV, no reply);
an empty oneOf or items, `not`, or an unanchored pattern makes it drop the whole schema for
"any JSON"; min > max bounds admit no valid reply."""
from __future__ import annotations

from typing import Any

TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
NON_EMPTY = ("enum", "type", "anyOf", "oneOf", "allOf", "items", "prefixItems")
BOUNDS = (("minItems", "maxItems"), ("minLength", "maxLength"), ("minimum", "maximum"),
          ("minProperties", "maxProperties"))


def schema_problems(schema: dict[str, Any]) -> list[str]:
    """One "path: problem" line per construct no grammar can be built from; [] when the schema is fine.

    Paths follow the reply document (`experiments.items.data.kinds.items`); local $refs are followed."""
    problems: list[str] = []
    _visit(schema, schema.get("$defs", {}), "", (), problems)
    return problems


def _visit(node: Any, defs: dict[str, Any], path: str, refs: tuple[str, ...], out: list[str]) -> None:
    where = path or "(root)"
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        out.append(f"{where}: a schema must be an object, not {type(node).__name__}")
        return
    if "$ref" in node:
        ref = str(node["$ref"])
        name = ref.removeprefix("#/$defs/")
        if name not in defs:
            out.append(f"{where}: unresolved $ref {ref!r} (only #/$defs/<name> is supported)")
        elif ref in refs:
            out.append(f"{where}: recursive $ref {ref!r} cannot be inlined")
        else:
            _visit(defs[name], defs, path, (*refs, ref), out)
        return
    out.extend(f"{where}: {p}" for p in _local_problems(node))
    for key, child in _children(node):
        _visit(child, defs, f"{path}.{key}" if path else key, refs, out)


def _local_problems(node: dict[str, Any]) -> list[str]:
    """What is wrong with this schema node itself (not its children)."""
    problems = [f"empty {key}" for key in NON_EMPTY if key in node and not node[key]]
    if "not" in node:
        problems.append("'not' is not supported")
    types = node.get("type", [])
    unknown = [t for t in (types if isinstance(types, list) else [types]) if not isinstance(t, str) or t not in TYPES]
    if unknown:
        problems.append(f"unknown type {unknown[0]!r}")
    for low, high in BOUNDS:
        lo, hi = node.get(low), node.get(high)
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
            problems.append(f"{low}={lo} > {high}={hi}")
    pattern = node.get("pattern")
    if isinstance(pattern, str) and not (pattern.startswith("^") and pattern.endswith("$")):
        problems.append(f"pattern {pattern!r} must start with ^ and end with $")
    return problems


def _children(node: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path segment, sub-schema) pairs: property names, `items`, `anyOf[i]`, ..."""
    children: list[tuple[str, Any]] = list((node.get("properties") or {}).items())
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            children.append((key, node[key]))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        children += [(f"{key}[{i}]", sub) for i, sub in enumerate(node.get(key) or [])]
    return children


def reply_schema(model: type) -> dict[str, Any]:
    """The JSON schema of a pydantic reply model as sent to an LLM: $refs inlined, titles dropped."""
    raw = model.model_json_schema()   # type: ignore[attr-defined]
    defs = raw.pop("$defs", {})

    def inline(node: Any, names: bool = False) -> Any:
        """`names`: node maps property names to schemas (keep every key)."""
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v, names=k == "properties" and not names) for k, v in node.items()
                    if names or k not in ("title", "description", "default")}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(raw)
