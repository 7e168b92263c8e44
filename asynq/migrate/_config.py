"""Configuration of ``asynq-migrate``: the naming conventions of the legacy priming code.

A codebase may have spelled the priming conventions differently (another prefix than
``prime_``, another decorator name than ``cached``...). Those names are read from a TOML
file given with ``--config``; the keys may sit in a ``[tool.asynq-migrate]`` table (so
that ``pyproject.toml`` can hold them) or at the top level of a dedicated file. Without
``--config``, the ``pyproject.toml`` of the project being migrated is used, found as ruff
and black find theirs: the nearest one in the directory of the given paths or above it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "MigrateConfig", "find_project_config", "load_config"]


class ConfigError(Exception):
    """The configuration file is missing, is not valid TOML, or has a bad value."""


@dataclasses.dataclass(frozen=True)
class MigrateConfig:
    """The names the codemod looks for in legacy code, and the files it leaves alone."""

    #: Prefix that turns the name of a function into the name of its priming twin.
    prime_prefix: str = "prime_"
    #: Attribute of a memcache client used as decorator of cached functions
    #: (``@mc.cached("ns")``); a bare ``@cached(...)`` is recognised too.
    cached_decorator: str = "cached"
    #: Name of the legacy priming module (``from asynq import priming``).
    priming_module: str = "priming"
    #: Attribute of the priming module that marks generator twins (``@priming.generator``).
    generator_decorator: str = "generator"
    #: Glob patterns (matched against the path as given and its file name) to skip.
    exclude: tuple[str, ...] = ()
    #: Also delete priming of *cached* functions (``prime_f(x)`` with ``prime_f = f.prime``)
    #: in unconverted code. Off by default: the plain reads that follow would then each
    #: cost a round trip, where priming fetched them together.
    delete_cached_priming: bool = False
    #: Longest line the rewrite writes (``line-length``; else ruff's or black's setting in
    #: the same ``pyproject.toml``; else 88).
    line_length: int = 88

    def __post_init__(self) -> None:
        for field in ("prime_prefix", "cached_decorator", "priming_module", "generator_decorator"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{field} must be a non-empty string, got {value!r}.")
        if (
            not isinstance(self.line_length, int)
            or isinstance(self.line_length, bool)
            or self.line_length < 40
        ):
            raise ConfigError(
                f"line_length must be a whole number of at least 40, got {self.line_length!r}."
            )
        if not isinstance(self.delete_cached_priming, bool):
            raise ConfigError(
                f"delete_cached_priming must be true or false, got {self.delete_cached_priming!r}."
            )
        for field in ("cached_decorator", "priming_module", "generator_decorator"):
            if not getattr(self, field).isidentifier():
                raise ConfigError(
                    f"{field} must be a Python identifier, got {getattr(self, field)!r}."
                )


_KEYS = {f.name for f in dataclasses.fields(MigrateConfig)}


def config_from_mapping(data: Mapping[str, Any], source: str = "<config>") -> MigrateConfig:
    """Build a :class:`MigrateConfig` from a mapping of keys (``-`` or ``_`` spelling)."""
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{source}: unknown key {raw_key!r}; the known keys are {known}.")
        if key == "exclude":
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{source}: exclude must be a list of glob strings.")
            value = tuple(value)
        elif key == "generator_decorator" and isinstance(value, str) and "." in value:
            # "priming.generator" names both the module and the decorator.
            module, _, attr = value.rpartition(".")
            values.setdefault("priming_module", module.rpartition(".")[2])
            value = attr
        values[key] = value
    try:
        return MigrateConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _toml_reader() -> Any:
    """The standard library's TOML reader, or its backport ``tomli`` before Python 3.11 (a
    dependency of the migrate extra there)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError(
            f"Reading --config on Python {sys.version_info[0]}.{sys.version_info[1]} needs the "
            "tomli package (the standard library reads TOML from 3.11 on): pip install tomli"
        ) from None
    return tomli


def load_config(path: str | Path | None) -> MigrateConfig:
    """Read the configuration file at ``path`` (defaults when ``path`` is None)."""
    if path is None:
        return MigrateConfig()
    path = Path(path)
    tomllib = _toml_reader()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"The configuration file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The configuration file {path} is not valid TOML: {exc}.") from None
    tool = data.get("tool")
    inherited: dict[str, Any] = {}
    if isinstance(tool, dict):
        for other in ("ruff", "black"):
            table = tool.get(other)
            if isinstance(table, dict) and isinstance(table.get("line-length"), int):
                inherited["line-length"] = table["line-length"]
                break
    if isinstance(tool, dict) and "asynq-migrate" in tool:
        table = tool["asynq-migrate"]
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.asynq-migrate] must be a table.")
        return config_from_mapping({**inherited, **table}, str(path))
    if path.name == "pyproject.toml" or ("tool" in data and set(data) == {"tool"}):
        # A pyproject.toml without our table: only the line length of ruff or black.
        return config_from_mapping(inherited, str(path))
    return config_from_mapping(data, str(path))


def find_project_config(paths: list[str]) -> Path | None:
    """The ``pyproject.toml`` that governs ``paths``: the nearest one in their common
    directory or above it (None if there is none)."""
    if not paths:
        return None
    absolute = [os.path.abspath(p) for p in paths]
    try:
        start = os.path.commonpath(absolute)
    except ValueError:  # paths on different drives
        return None
    if not os.path.isdir(start):
        start = os.path.dirname(start)
    directory = Path(start)
    for candidate in (directory, *directory.parents):
        found = candidate / "pyproject.toml"
        if found.is_file():
            return found
    return None
