"""Config files shared by every job: YAML reading, ``--set`` overrides, typed numbers, one-line errors.

The DARTS search, the trial-based searches and the recipes all read a YAML mapping,
apply dotted ``key=value`` overrides and validate the result with pydantic; the pieces
live here once so each config module only declares its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from nas.errors import NasError
from nas.limits import MAX_SEED  # re-exported: the one bound of seeds


def no_bool(value: Any) -> Any:
    # YAML `yes`/`true` must not silently become 1 in a numeric field.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


PosInt = Annotated[int, BeforeValidator(no_bool), Field(gt=0)]
NonNegInt = Annotated[int, BeforeValidator(no_bool), Field(ge=0)]
# inf and nan pass `gt=0` (or fail it with a misleading message): a learning rate of inf
# would only fail as a non-finite loss, long after validation.
PosFloat = Annotated[float, BeforeValidator(no_bool), Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, BeforeValidator(no_bool), Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, BeforeValidator(no_bool), Field(gt=0, lt=1, allow_inf_nan=False)]
#: Any finite number (``inf`` and ``nan`` refused).
FiniteFloat = Annotated[float, BeforeValidator(no_bool), Field(allow_inf_nan=False)]

#: Largest config file read (a config is a few kB; ``--config /dev/zero`` must not eat memory).
MAX_CONFIG_BYTES = 1 << 20

#: A random seed: an integer that python, numpy and torch all accept.
Seed = Annotated[int, BeforeValidator(no_bool), Field(ge=0, le=MAX_SEED)]


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: distinct integers in ``0..MAX_SEED``, or a one-line error naming ``flag``."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise NasError(f"{flag}: expected comma-separated non-negative integers like 0,1,2, got {text!r}")
        if int(part) > MAX_SEED:
            raise NasError(f"{flag}: seed {part} is too large (expected 0 to {MAX_SEED})")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise NasError(f"{flag}: repeated seed in {text!r}")
    return seeds


def read_config_text(path: str | Path, what: str = "config file", limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of a config file, at most ``limit`` bytes; one-line errors for missing, unreadable or huge files."""
    p = Path(path)
    try:
        if p.is_dir():
            raise NasError(f"{p}: is a directory, expected a {what}")
        with p.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise NasError(f"{p}: {what} not found") from None
    except PermissionError:
        raise NasError(f"{p}: cannot read {what} (permission denied)") from None
    except OSError as exc:
        raise NasError(f"{p}: cannot read {what} ({exc.strerror or exc.__class__.__name__})") from None
    if len(data) > limit:
        raise NasError(f"{p}: larger than {limit // 1024} kB; expected a {what} (YAML)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NasError(f"{p}: cannot read {what} (not UTF-8 text)") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; unreadable or non-mapping files are one-line errors."""
    p = Path(path)
    text = read_config_text(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise NasError(f"{p.name}: not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NasError(f"{p.name}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (``key.sub``, YAML-parsed value), so ``3``, ``true`` and ``null`` are typed."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise NasError(f"--set {text}: expected key=value (e.g. epochs=5 or guards.max_skip=2)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key, parsed


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``raw`` with dotted ``overrides`` set (sections created as needed)."""

    def copy(value: Any) -> Any:
        return {k: copy(v) for k, v in value.items()} if isinstance(value, dict) else value

    data = copy(dict(raw))
    for key, value in overrides.items():
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise NasError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _expects_float(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether the field at ``loc`` holds a float (an integer given to it is still a number, not an integer)."""
    parent = _model_at(model, loc[:-1]) if loc else None
    field = parent.model_fields.get(str(loc[-1])) if parent is not None else None
    return field is not None and "float" in str(field.annotation)


def _describe(err: Mapping[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    """(dotted field, readable message) of one pydantic error."""
    loc = tuple(err.get("loc", ()))
    path = ".".join(str(p) for p in loc)
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = err.get("input")
    got_text = repr(got) if isinstance(got, str) else yaml.safe_dump(got, default_flow_style=True).strip()
    got_text = got_text.removesuffix("...").strip()
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = f" (known: {', '.join(parent.model_fields)})" if parent is not None else ""
        return path, f"unknown key{known}"
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return ".".join(str(p) for p in loc[:-1]), f"expected {loc[-1] + 1} values, got fewer"
        return path, "required"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return path, f"expected an integer, got {got_text}"
    if kind in ("float_type", "float_parsing"):
        return path, f"expected a number, got {got_text}"
    if kind == "finite_number":
        return path, f"expected a finite number, got {got_text}"
    if kind in ("bool_type", "bool_parsing"):
        return path, f"expected true or false, got {got_text}"
    if kind in ("string_type",):
        return path, f"expected a string, got {got_text}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"expected a section (a mapping of keys), got {got_text}"
    if kind in ("tuple_type", "too_short", "too_long"):
        return path, f"expected a list of {ctx.get('expected', 'the right number of')} values, got {got_text}"
    if kind == "literal_error":
        return path, f"expected one of {ctx.get('expected', '?')}, got {got_text}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        is_int = isinstance(got, int) and not _expects_float(model, loc)
        bounds = {
            "greater_than": f"> {ctx.get('gt')}",
            "greater_than_equal": f">= {ctx.get('ge')}",
            "less_than": f"< {ctx.get('lt')}",
            "less_than_equal": f"<= {ctx.get('le')}",
        }[kind]
        if path.endswith(("val_fraction", "betas.0", "betas.1")):
            return path, f"expected a fraction strictly between 0 and 1, got {got_text}"
        if is_int and kind == "greater_than" and ctx.get("gt") == 0:
            return path, f"expected a positive integer, got {got_text}"
        if is_int and kind == "greater_than_equal" and ctx.get("ge") == 0:
            return path, f"expected a non-negative integer, got {got_text}"
        if not is_int and kind == "greater_than" and ctx.get("gt") == 0:
            return path, f"expected a positive number, got {got_text}"
        return path, f"expected {'an integer' if is_int else 'a number'} {bounds}, got {got_text}"
    message = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "value_error" and ": " in message and not path:
        path, _, message = message.partition(": ")  # model validators name their own field
        return path, message
    return path, f"{message[:1].lower()}{message[1:]}" + ("" if "got" in message else f", got {got_text}")


def validation_error(
    exc: ValidationError, model: type[BaseModel], source: str, overridden: Mapping[str, str] | None = None
) -> NasError:
    """Turn the first pydantic error into one line naming the file (or flag) and the field."""
    err = exc.errors()[0]
    path, message = _describe(err, model)
    flags = overridden or {}
    origin = next((flag for key, flag in flags.items() if path == key or path.startswith(key + ".")), source)
    return NasError(f"{origin}: {path}: {message}" if path else f"{origin}: {message}")


def find_named_yaml(text: str, directory: Path) -> Path | None:
    """A YAML file given by path, or by the name of one shipped in ``directory``; None when neither.

    An existing file wins; text that looks like a path (``.yaml``/``.yml`` or a ``/``) is returned
    as that path even when missing, so the caller says which file is missing; a bare name is
    looked up as ``directory/NAME.yaml`` then ``.yml``. Recipes and search configs share it.
    """
    path = Path(text).expanduser()
    if path.is_file() or text.endswith((".yaml", ".yml")) or "/" in text:
        return path
    for suffix in (".yaml", ".yml"):
        candidate = directory / f"{text}{suffix}"
        if candidate.is_file():
            return candidate
    return None
