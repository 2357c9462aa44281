"""Strict construction of frozen dataclasses from YAML mappings.

Every key is checked: unknown keys, missing keys and values of the wrong type raise
:class:`ConfigError` with the dotted path of the key, the allowed keys and a hint, so a typo in
``params.yaml`` is reported before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints


class ConfigError(ValueError):
    """A parameter file is malformed; the message names the key and how to fix it."""


def build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from mapping ``data``; ``path`` is the dotted location used in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys for {cls.__name__}, got {_show(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = unknown[0]
        moved = getattr(cls, "MOVED_KEYS", {}).get(key)  # a key of an older layout: where it lives now
        if moved is not None:
            experiment = path.split(".")[0]
            raise ConfigError(f"{path}.{key}: moved; write it as {experiment}.{moved}.{key}")
        raise ConfigError(
            f"{path}.{key}: unknown key{_suggest(key, fields)}. "
            f"Allowed keys in {path}: {', '.join(sorted(fields))}"
        )
    values = {}
    # a core dataclass's defaults serve code and tests; a params file states these keys all the same
    stated = set(getattr(cls, "PARAMS_REQUIRED", ()))
    for name, field in fields.items():
        if name not in data:
            no_default = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if no_default or name in stated:
                raise ConfigError(f"{path}.{name}: missing required key ({_type_name(hints[name])})")
            continue
        values[name] = convert(hints[name], data[name], f"{path}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None


def convert(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert containers (lists -> tuples)."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:  # Optional[X]: report X's own, precise error
            return convert(non_none[0], value, path)
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return convert(arg, value, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{path}: {_show(value)} is not a valid {_type_name(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(
                f"{path}: {_show(value)} is not allowed; choose one of {', '.join(map(repr, allowed))}"
            )
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected a list of {len(args)} items, got {len(value)}")
            return tuple(
                convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        item = args[0] if args else Any
        return tuple(convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_show(value)}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return types.MappingProxyType(
            {convert(key_tp, k, f"{path}"): convert(val_tp, v, f"{path}.{k}") for k, v in value.items()}
        )
    return _scalar(tp, value, path)


def _scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _is_number(value):  # YAML 1.1 reads 1e-3 (no dot) as text
            raise ConfigError(
                f"{path}: expected float, got {_show(value)}; YAML reads {value} as text, write "
                f"{_yaml_float(value)} (a dot and a signed exponent)"
            )
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - programming error in a config class
        raise TypeError(f"unsupported annotation {tp!r} at {path}")
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_show(value)}")


def to_plain(obj: Any) -> Any:
    """Dataclass / mapping proxy / tuple tree -> plain dict / list tree (for YAML, JSON, MLflow)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict | types.MappingProxyType):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    return obj


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested plain dict -> {"a.b.c": leaf} (lists kept as their string form)."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    out[prefix[:-1]] = tree
    return out


def _is_number(text: str) -> bool:
    if not any(c.isdigit() for c in text):  # "nan", "inf" are words, not a misspelt float
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _yaml_float(text: str) -> str:
    """``1e-3`` -> ``1.0e-3``, ``5E4`` -> ``5.0e+4``: the spelling YAML 1.1 reads as a float."""
    mantissa, _, exponent = text.lower().partition("e")
    mantissa = mantissa if "." in mantissa else f"{mantissa}.0"
    if exponent and exponent[0] not in "+-":
        exponent = f"+{exponent}"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _suggest(key: str, fields: typing.Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
