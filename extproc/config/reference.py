"""Generate the Markdown config reference from the config model (so docs cannot drift)."""

from __future__ import annotations

import json
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from extproc.config.model import RouterConfig, RoutingConfig

HEADER = """# Config reference

Generated from `extproc/config/model.py` by `extproc-router config-reference`; a test checks
that this file is up to date. Behaviour notes: [configuration.md](configuration.md).
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value: Any = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
        if isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
            return ", ".join(value)
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            return ", ".join(getattr(v, "type", "?") for v in value)
        return f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return "required"
    return f"`{json.dumps(field.default)}`"


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{arg}`" for arg in get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    if get_origin(annotation) is list:
        return "list of rules"
    text = str(annotation).replace("typing.", "").replace("extproc.config.model.", "")
    return text.replace(" | ", " or ").replace("Literal", "")


def _section(title: str, model: type[BaseModel], out: list[str]) -> None:
    out.append(f"\n## `{title}`\n\n{(model.__doc__ or '').strip()}\n")
    out.append("| key | type | default | description |\n|---|---|---|---|")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        desc = (field.description or "").replace("|", "\\|")
        out.append(f"| `{name}` | {_type_name(annotation)} | {_default(field)} | {desc} |")
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{title}.{name}", annotation))
        suffix = ".<name>" if get_origin(annotation) is dict else ""
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                nested.append((f"{title}.{name}{suffix}", arg))
    for sub_title, sub_model in nested:
        _section(sub_title, sub_model, out)


def render_reference() -> str:
    out = [HEADER]
    for name, field in RouterConfig.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _section(name, annotation, out)
        else:
            for arg in get_args(annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    _section(f"{name}.<name>", arg, out)
    rules_annotation = RoutingConfig.model_fields["rules"].annotation
    rule_union = get_args(get_args(rules_annotation)[0])[0]
    for rule_model in get_args(rule_union):
        type_name = get_args(rule_model.model_fields["type"].annotation)[0]
        _section(f"routing.rules[] type: {type_name}", rule_model, out)
    return "\n".join(out) + "\n"
