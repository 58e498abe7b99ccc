"""Typed router configuration: the pydantic model and the YAML loader."""

from extproc.config.loader import ConfigError, interpolate_env, load_config, parse_config
from extproc.config.model import RouterConfig

__all__ = ["ConfigError", "RouterConfig", "interpolate_env", "load_config", "parse_config"]
