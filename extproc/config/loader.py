"""Load YAML config with ${VAR} / ${VAR:-default} interpolation of values and key-path
errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from extproc.config.model import RouterConfig
from extproc.config.suggest import suggestion

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key path and the problem."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: " + "; ".join(problems))

    def report(self) -> str:
        """The CLI's multi-line form: `config error in SOURCE:` then one problem a line."""
        return "\n".join([f"config error in {self.source}:", *(f"  - {p}" for p in self.problems)])


def interpolate_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace ${VAR} and ${VAR:-default}; an unset ${VAR} without default is an error."""
    environ = os.environ if env is None else env
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is not None and (value != "" or default is None):
            return value
        if default is not None:
            return default
        missing.append(name)
        return ""

    result = _VAR.sub(substitute, text)
    if missing:
        raise ConfigError([f"environment variable {name} is not set" for name in missing])
    return result


def interpolate_values(data: Any, env: Mapping[str, str] | None = None) -> Any:
    """`interpolate_env` on every string value of parsed YAML, never on keys or comments.

    Working on values, not on the file's text, means a `${X}` in a comment is just a comment,
    and a value containing YAML syntax (`: `, `#`, quotes) stays one string. Numbers and
    booleans that come from variables arrive as strings; the config model converts them."""
    missing: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            if "${" not in node:
                return node
            try:
                return interpolate_env(node, env)
            except ConfigError as exc:
                missing.extend(f"{path or '<root>'}: {p}" for p in exc.problems)
                return node
        if isinstance(node, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(node)]
        return node

    result = walk(data, "")
    if missing:
        raise ConfigError(missing)
    return result


def _format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        path = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            known = suggestion(RouterConfig, err["loc"])
            if known is not None:
                message += f" (did you mean {known!r}?)"
        # cross-field checks run on the whole model and name their key path themselves
        problems.append(f"{path}: {message}" if path else message)
    return problems


def parse_config(data: Mapping[str, Any] | None, source: str = "config") -> RouterConfig:
    """Validate a mapping into a RouterConfig, raising ConfigError with key paths."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"<root>: expected a mapping, got {type(data).__name__}"], source)
    try:
        return RouterConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc), source) from None


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> RouterConfig:
    """Read, interpolate and validate a YAML config file; None gives the built-in defaults."""
    if path is None:
        return RouterConfig()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read file: {exc.strerror or exc}"], source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"invalid YAML: {exc}"], source) from None
    try:
        data = interpolate_values(data, env)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source) from None
    return parse_config(data, source)


def with_server_overrides(config: RouterConfig, overrides: Mapping[str, Any]) -> RouterConfig:
    """The config with `server.*` keys replaced (command-line --listen etc.), validated."""
    if not overrides:
        return config
    try:
        server = type(config.server).model_validate({**config.server.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc), "command line") from None
    return config.model_copy(update={"server": server})
