"""Readers and writers of genotypes, with exact round trips.

Formats:

* canonical JSON (every kind): ``{"schema": 1, "kind": ..., ...}``, sorted keys, no
  spaces, every field written, so equal genotypes give byte-equal text;
* the DARTS text form ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
  reduce=[...], reduce_concat=[...])`` as DARTS, PC-DARTS and P-DARTS print it
  (``range(2, 6)`` accepted). It is parsed with :mod:`ast` and a whitelist of node types,
  never evaluated;
* NAS-Bench-201 strings ``|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|...|``.

What a user types on the command line (a name, a file, a run directory, text) is
resolved by :mod:`nas.genotypes.resolve`, the only module that knows the named genotypes.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.genotypes.types import (
    BLOCK_TYPES,
    SCHEMA_VERSION,
    DartsGenotype,
    Genotype,
    Head,
    MacroGenotype,
    NB201Genotype,
    Stage,
    Stem,
)

# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def to_dict(genotype: Genotype) -> dict[str, Any]:
    """A JSON-ready dict with every field (lists for tuples)."""
    if isinstance(genotype, DartsGenotype):
        body: dict[str, Any] = {
            "normal": [list(e) for e in genotype.normal],
            "normal_concat": list(genotype.normal_concat),
            "reduce": [list(e) for e in genotype.reduce],
            "reduce_concat": list(genotype.reduce_concat),
        }
    elif isinstance(genotype, NB201Genotype):
        body = {"nodes": [[list(e) for e in node] for node in genotype.nodes]}
    elif isinstance(genotype, MacroGenotype):
        body = {
            "stem": _plain(genotype.stem),
            "stages": [
                {
                    "block": {"family": s.block.family, **_plain(s.block)},
                    "depth": s.depth,
                    "downsample": s.downsample,
                    "compression": s.compression,
                }
                for s in genotype.stages
            ],
            "head": _plain(genotype.head),
            "input_size": genotype.input_size,
            "in_channels": genotype.in_channels,
        }
    else:
        raise NasError(f"genotype: expected a DARTS, NB201 or macro genotype, got {type(genotype).__name__}")
    return {"schema": SCHEMA_VERSION, "kind": genotype.kind, **body}


def to_json(genotype: Genotype, *, indent: int | None = None) -> str:
    """Canonical JSON text (``indent`` only for human-friendly files; same content)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(to_dict(genotype), sort_keys=True, separators=separators, indent=indent)


def _fields_of(cls: type, data: Any, path: str) -> dict[str, Any]:
    """Check that ``data`` is an object with known fields and every required one."""
    if not isinstance(data, dict):
        raise NasError(f"{path}: expected an object, got {json.dumps(data)[:60]}")
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise NasError(f"{path}: unknown field {key!r} (expected: {', '.join(known)})")
    for name, f in known.items():
        if name not in data and f.default is MISSING and f.default_factory is MISSING:
            raise NasError(f"{path}: missing field {name!r}")
    return dict(data)


def _construct(cls: type, kwargs: dict[str, Any], path: str) -> Any:
    try:
        return cls(**kwargs)
    except NasError as exc:
        raise NasError(f"{path}.{exc}" if path else str(exc)) from None


def from_dict(data: Any, source: str = "genotype") -> Genotype:
    """Build a genotype from a JSON-decoded dict; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise NasError(f"{source}: expected a JSON object with 'schema' and 'kind', got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise NasError(f"{source}: schema: expected {SCHEMA_VERSION}, got {schema!r}")
    kind = data.get("kind")
    body = {k: v for k, v in data.items() if k not in ("schema", "kind")}
    try:
        if kind == "darts":
            _fields_of(DartsGenotype, body, "")
            return DartsGenotype(**body)
        if kind == "nb201":
            _fields_of(NB201Genotype, body, "")
            return NB201Genotype(**body)
        if kind == "macro":
            return _macro_from_dict(body)
    except NasError as exc:
        message = str(exc).lstrip(": ").removeprefix(".")
        raise NasError(f"{source}: {message}") from None
    raise NasError(f"{source}: kind: expected one of darts, nb201, macro, got {kind!r}")


def _macro_from_dict(body: dict[str, Any]) -> MacroGenotype:
    _fields_of(MacroGenotype, body, "genotype")
    stem = _construct(Stem, _fields_of(Stem, body["stem"], "stem"), "stem")
    stages_data = body["stages"]
    if not isinstance(stages_data, list) or not stages_data:
        raise NasError(f"stages: expected a non-empty list of stages, got {json.dumps(stages_data)[:60]}")
    stages = []
    for i, sd in enumerate(stages_data):
        path = f"stages[{i}]"
        sd = _fields_of(Stage, sd, path)
        bd = sd.get("block")
        if not isinstance(bd, dict):
            raise NasError(f"{path}.block: expected an object with a 'family', got {json.dumps(bd)[:60]}")
        family = bd.get("family")
        if family not in BLOCK_TYPES:
            raise NasError(f"{path}.block.family: unknown family {family!r} (known: {', '.join(BLOCK_TYPES)})")
        cls = BLOCK_TYPES[family]
        bkw = _fields_of(cls, {k: v for k, v in bd.items() if k != "family"}, f"{path}.block")
        sd["block"] = _construct(cls, bkw, f"{path}.block")
        stages.append(_construct(Stage, sd, path))
    head = _construct(Head, _fields_of(Head, body.get("head", {}), "head"), "head")
    rest = {k: body[k] for k in ("input_size", "in_channels") if k in body}
    return MacroGenotype(stem=stem, stages=tuple(stages), head=head, **rest)


def from_json(text: str, source: str = "JSON") -> Genotype:
    """Parse canonical (or pretty-printed) JSON; malformed JSON gets a one-line error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NasError(f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return from_dict(data, source)


# --------------------------------------------------------------------------- #
# DARTS text
# --------------------------------------------------------------------------- #

_DARTS_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_DARTS_SHAPE = "Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])"


def to_darts_text(genotype: DartsGenotype) -> str:
    """The DARTS repr: ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)``."""
    if not isinstance(genotype, DartsGenotype):
        raise NasError(f"DARTS text: only DARTS genotypes have a DARTS text form, not {genotype.kind}")

    def edges(es: tuple[tuple[str, int], ...]) -> str:
        return "[" + ", ".join(f"({op!r}, {i})" for op, i in es) + "]"

    def concat(c: tuple[int, ...]) -> str:
        return "[" + ", ".join(str(i) for i in c) + "]"

    g = genotype
    return (
        f"Genotype(normal={edges(g.normal)}, normal_concat={concat(g.normal_concat)}, "
        f"reduce={edges(g.reduce)}, reduce_concat={concat(g.reduce_concat)})"
    )


def _literal(node: ast.AST, path: str) -> Any:
    """Convert a whitelisted AST node (lists, tuples, str, int, range(a, b)) to data."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = _literal(node.operand, path)
        if isinstance(value, int):
            return -value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, f"{path}[{i}]") for i, e in enumerate(node.elts)]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        args = [_literal(a, path) for a in node.args]
        if all(isinstance(a, int) for a in args):
            return list(range(*args))
    snippet = ast.unparse(node)[:40]
    raise NasError(f"DARTS text: {path}: expected a list of (operation, input) pairs or indices, got {snippet!r}")


def from_darts_text(text: str) -> DartsGenotype:
    """Parse the DARTS text form safely (``ast`` + whitelist; nothing is executed)."""
    src = text.strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        raise NasError(f"DARTS text: invalid syntax at column {exc.offset or 0}; expected {_DARTS_SHAPE}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise NasError(f"DARTS text: expected {_DARTS_SHAPE}")
    if len(call.args) > len(_DARTS_FIELDS):
        raise NasError(f"DARTS text: too many positional arguments; expected {_DARTS_SHAPE}")
    values: dict[str, Any] = {}
    for name, arg in zip(_DARTS_FIELDS, call.args):
        values[name] = _literal(arg, name)
    for kw in call.keywords:
        if kw.arg not in _DARTS_FIELDS:
            raise NasError(f"DARTS text: unknown field {kw.arg!r} (expected: {', '.join(_DARTS_FIELDS)})")
        if kw.arg in values:
            raise NasError(f"DARTS text: field {kw.arg!r} given twice")
        values[kw.arg] = _literal(kw.value, kw.arg)
    missing = [f for f in _DARTS_FIELDS if f not in values]
    if missing:
        raise NasError(f"DARTS text: missing field {missing[0]!r}; expected {_DARTS_SHAPE}")
    try:
        return DartsGenotype(**values)
    except NasError as exc:
        raise NasError(f"DARTS text: {exc}") from None


# --------------------------------------------------------------------------- #
# NAS-Bench-201 strings
# --------------------------------------------------------------------------- #


def to_nb201_string(genotype: NB201Genotype) -> str:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (the benchmark's ``arch_str``)."""
    if not isinstance(genotype, NB201Genotype):
        raise NasError(f"NB201 string: only NB201 genotypes have an NB201 string, not {genotype.kind}")
    return "+".join("|" + "|".join(f"{op}~{i}" for op, i in node) + "|" for node in genotype.nodes)


def from_nb201_string(text: str) -> NB201Genotype:
    """Parse an NB201 ``arch_str``; errors name the node and token."""
    src = text.strip()
    if not src:
        raise NasError("NB201 string: empty; expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|")
    nodes = []
    for j, part in enumerate(src.split("+"), start=1):
        if len(part) < 2 or not part.startswith("|") or not part.endswith("|"):
            raise NasError(f"NB201 string: node {j}: expected '|op~i|...|' between '+', got {part!r}")
        edges = []
        for token in part[1:-1].split("|"):
            op, sep, inp = token.partition("~")
            if not sep or not inp.isdigit() or not op:
                raise NasError(f"NB201 string: node {j}: expected 'operation~input', got {token!r}")
            edges.append((op, int(inp)))
        nodes.append(edges)
    try:
        return NB201Genotype(nodes=nodes)
    except NasError as exc:
        raise NasError(f"NB201 string: {exc}") from None


# --------------------------------------------------------------------------- #
# Human-readable text and resolution of user input
# --------------------------------------------------------------------------- #


def _block_text(block: Any) -> str:
    b = block
    if b.family == "vgg":
        return f"conv{b.kernel_size}x{b.kernel_size}({b.channels})"
    if b.family == "inception":
        third = "3x3+3x3" if b.double_3x3 else "5x5"
        return f"inception(1x1:{b.b1} 3x3:{b.b2_reduce}>{b.b2} {third}:{b.b3_reduce}>{b.b3} pool:{b.pool_proj})"
    if b.family == "resnet":
        extra = "".join(
            [
                f" g{b.groups}" if b.groups > 1 else "",
                f" w{b.inner_width}" if b.kind == "bottleneck" or b.width else "",
                f" se/{b.se_reduction}" if b.se_reduction else "",
                " preact" if b.preact else "",
                " pad" if b.shortcut == "pad" else "",
            ]
        )
        return f"{b.kind}({b.channels}{extra})"
    return f"dense(k={b.growth_rate}{' bc' if b.bottleneck else ''})"


def to_text(genotype: Genotype) -> str:
    """One readable line: DARTS text, an NB201 string, or a macro summary."""
    if isinstance(genotype, DartsGenotype):
        return to_darts_text(genotype)
    if isinstance(genotype, NB201Genotype):
        return to_nb201_string(genotype)
    assert isinstance(genotype, MacroGenotype)
    g = genotype
    parts = [g.family]
    if g.stem.channels:
        parts.append(f"stem {g.stem.kernel_size}x{g.stem.kernel_size}({g.stem.channels})")
    for s in g.stages:
        down = (
            ""
            if s.downsample == "none"
            else f"{s.downsample}" + (f"({s.compression:g})" if s.downsample == "transition" else "") + " "
        )
        parts.append(f"{down}{s.depth}x {_block_text(s.block)}")
    parts.append(f"{'bn-relu ' if g.head.preact else ''}{g.head.pool}pool fc")
    return " | ".join(parts)


#: Largest genotype file read (a genotype is a few kB; a device or a huge file must not eat memory).
MAX_GENOTYPE_BYTES = 1 << 20


def load_genotype_file(path: str | os.PathLike[str]) -> Genotype:
    """Read a genotype from a file holding JSON, DARTS text or an NB201 string."""
    p = Path(path)
    if p.is_dir():
        p = p / "genotype.json"
        if not p.is_file():
            raise NasError(f"{path}: directory has no genotype.json")
    try:
        with p.open("rb") as handle:
            data = handle.read(MAX_GENOTYPE_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise NasError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NasError(f"{p}: cannot read genotype file ({exc.__class__.__name__})") from None
    if len(data) > MAX_GENOTYPE_BYTES:
        raise NasError(f"{p}: larger than {MAX_GENOTYPE_BYTES // 1024} kB; expected a genotype file")
    return parse_text(text, str(p))


def parse_text(text: str, source: str) -> Genotype:
    """JSON, DARTS text or an NB201 string (by its first characters); errors name ``source``."""
    s = text.strip()
    if s.startswith("{"):
        return from_json(s, source)
    if s.startswith("Genotype"):
        try:
            return from_darts_text(s)
        except NasError as exc:
            raise NasError(f"{source}: {exc}") from None
    if s.startswith("|"):
        try:
            return from_nb201_string(s)
        except NasError as exc:
            raise NasError(f"{source}: {exc}") from None
    raise NasError(f"{source}: expected JSON, DARTS text (Genotype(...)) or an NB201 string (|op~0|+...)")


def save_genotype(genotype: Genotype, path: str | os.PathLike[str]) -> Path:
    """Write canonical JSON atomically (a killed process never leaves half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(to_json(genotype) + "\n", encoding="utf-8")
    os.replace(tmp, p)
    return p
