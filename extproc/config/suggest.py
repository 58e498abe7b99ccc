""""Did you mean …?" for a mistyped config key: the closest field name of the model that
the key's path points into (routing rules by their `type` tag, tier maps by their values)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    if origin in (list, tuple, set, frozenset):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    if origin is dict:
        args = typing.get_args(annotation)
        return _models_in(args[1]) if len(args) == 2 else []
    return []


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if len(args) == 1 else None


def model_at(root: type[BaseModel], path: Sequence[Any]) -> type[BaseModel] | None:
    """The model whose field the last element of `path` names, or None when unclear."""
    candidates: list[type[BaseModel]] = [root]
    for part in path[:-1]:
        if isinstance(part, int):
            continue  # a list index: same candidates
        tagged = [m for m in candidates if _tag_of(m) == part]
        if len(candidates) > 1 and tagged:
            candidates = tagged  # a discriminated union's tag in the error path
            continue
        holders = [m for m in candidates if part in m.model_fields]
        if holders:
            candidates = [m for h in holders for m in _models_in(h.model_fields[part].annotation)]
        elif len(candidates) != 1:
            return None
        # else: a dict key (a tier name); the candidates are the dict's value models already
        if not candidates:
            return None
    return candidates[0] if len(candidates) == 1 else None


def suggestion(root: type[BaseModel], path: Sequence[Any]) -> str | None:
    """The known key closest to the unknown last element of `path`, if one is close."""
    model = model_at(root, path)
    if model is None or not path:
        return None
    known = [name for name in model.model_fields if name != "type"]
    match = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.7)
    return match[0] if match else None
