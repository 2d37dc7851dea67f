"""Problems that name the key, the value given and what is allowed, one per mistake.

Stack config (`components.config`), the dynamic providers' `check`
(`components.bedrock.validation`) and the rollout plan (`rftenv.rollout`) all report
invalid input in these words, turned from pydantic's errors here. A module of its own, so
that the providers and the planner need not import the stack config model.
"""

from __future__ import annotations

import json
import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ConfigProblem:
    key: str  # full key path, e.g. "rft-env:job.hyperparameters.epochCount"
    value: Any  # the value given, or MISSING
    message: str  # what is wrong and what is allowed

    def __str__(self) -> str:
        if self.value is MISSING:
            return f"{self.key}: {self.message}"
        return f"{self.key}: got {show_value(self.value)}; {self.message}"


def show_value(value: Any, limit: int = 80) -> str:
    """A value as a problem message shows it: JSON, on one line, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    # Keep each problem on one line even for Unicode line separators.
    text = text.translate({0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"})
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------
# Turning pydantic errors into problems that name the key and say what is allowed
# --------------------------------------------------------------------------------------
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:-]+")


def key_path(loc: tuple[Any, ...], prefix: str) -> str:
    """`rft-env:job.hyperparameters.epochCount`, `rft-env:vpc.subnetIds[0]`; a key that is
    not a plain name is quoted (`rft-env:tags["a b"]`) so the path stays one readable line."""
    path = prefix
    first = True
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        elif _PLAIN_KEY.fullmatch(str(part)):
            path += ("" if first else ".") + str(part)
        else:
            path += f"[{json.dumps(str(part), ensure_ascii=True)}]"
        first = False
    return path


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional so the walk below sees the model, dict or list type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _walk(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[Any, FieldInfo | None]:
    """The type (and field, if the last step was a model field) at `loc` in `root`."""
    current: Any = root
    field: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current)
        if part == "[key]":
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for name, f in current.model_fields.items() if (f.alias or name) == part),
                None,
            )
            if field is None:
                return None, None
            current = field.annotation
        elif get_origin(current) in (dict, list):
            current, field = get_args(current)[-1], None
        else:
            return None, None
    return current, field


def _constraints(field: FieldInfo | None) -> list[Any]:
    """The field's constraints, including those inside `Annotated[...] | None`."""
    if field is None:
        return []
    found = list(field.metadata)
    for member in get_args(field.annotation) if field.annotation is not None else ():
        if get_origin(member) is Annotated:
            for extra in get_args(member)[1:]:
                found += extra.metadata if isinstance(extra, FieldInfo) else [extra]
    return found


def _number_kind(field: FieldInfo | None) -> str:
    base = _unwrap(field.annotation) if field is not None else None
    return "a number" if base is float else "an integer"


def _bounds_text(field: FieldInfo | None, kind: str) -> str:
    lower = upper = None
    exclusive_lower = False
    for meta in _constraints(field):
        if isinstance(meta, annotated_types.Ge):
            lower = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            lower, exclusive_lower = meta.gt, True
        elif isinstance(meta, annotated_types.Le):
            upper = meta.le
    if lower is not None and upper is not None:
        return f"{kind} from {lower:g} to {upper:g}"
    if exclusive_lower and lower == 0:
        return f"a positive {kind.removeprefix('an ').removeprefix('a ')}"
    if lower is not None:
        return f"{kind} of at least {lower:g}"
    return kind


def problems_from_validation_error(
    error: ValidationError, root: type[BaseModel], prefix: str = ""
) -> list[ConfigProblem]:
    """Problems naming the key, the value and what is allowed, for any of these models
    (the dynamic providers' `check` reports its inputs with the same words)."""
    return [_problem_from_pydantic(e, root, prefix) for e in error.errors()]


def _problem_from_pydantic(error: Any, root: type[BaseModel], prefix: str) -> ConfigProblem:
    loc: tuple[Any, ...] = tuple(error["loc"])
    kind: str = error["type"]
    value = error.get("input", MISSING)
    ctx = error.get("ctx") or {}
    key = key_path(loc, prefix)
    if kind == "missing":
        return ConfigProblem(key, MISSING, "required key is missing")
    if kind == "extra_forbidden":
        parent, _ = _walk(loc[:-1], root)
        parent = _unwrap(parent)
        allowed = ""
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            names = sorted(f.alias or n for n, f in parent.model_fields.items())
            allowed = "; allowed keys: " + ", ".join(names)
        return ConfigProblem(key, MISSING, f"unknown key{allowed}")
    _, field = _walk(loc, root)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return ConfigProblem(key, value, "allowed: " + _bounds_text(field, "an integer"))
    if kind in ("float_type", "float_parsing", "finite_number"):
        return ConfigProblem(key, value, "allowed: " + _bounds_text(field, "a number"))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return ConfigProblem(key, value, "allowed: " + _bounds_text(field, _number_kind(field)))
    if kind == "literal_error":
        return ConfigProblem(key, value, f"allowed: {ctx.get('expected', '')}")
    if kind in ("bool_type", "bool_parsing"):
        return ConfigProblem(key, value, "allowed: true or false")
    if kind in ("string_type", "string_too_short", "string_too_long"):
        return ConfigProblem(key, value, f"allowed: a string ({error['msg'].lower()})")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return ConfigProblem(key, value, "allowed: a mapping of keys to values")
    if kind == "list_type":
        return ConfigProblem(key, value, "allowed: a list")
    if kind in ("too_short", "too_long"):
        low, high = _length_bounds(field)
        return ConfigProblem(key, value, f"allowed: {low} to {high} items")
    if kind == "value_error":
        return ConfigProblem(key, value, str(ctx.get("error", error["msg"])))
    # Our own PydanticCustomErrors already read "allowed: ...".
    return ConfigProblem(key, value, error["msg"])


def _length_bounds(field: FieldInfo | None) -> tuple[Any, Any]:
    low: Any = 0
    high: Any = "any number of"
    for meta in _constraints(field):
        if isinstance(meta, annotated_types.MinLen):
            low = meta.min_length
        elif isinstance(meta, annotated_types.MaxLen):
            high = meta.max_length
    return low, high
