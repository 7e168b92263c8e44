"""``asynq-migrate``: rewrite legacy priming code into asynq code.

The command line lives in :mod:`asynq.migrate.cli`; the pieces are usable from Python:

* :func:`load_config` / :class:`MigrateConfig`: naming conventions of the legacy code;
* :func:`run`: analyse and rewrite a tree of files, returning a :class:`RunResult`
  whose ``files`` are typed outcomes (:class:`FileChanged`, :class:`FileUnchanged`,
  :class:`FileFailed`, :class:`FileSkipped`);
* :func:`migrate_sources`: the same on in-memory sources (used by tests and tools).
"""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst

from ._config import ConfigError, MigrateConfig, load_config
from ._facts import collect_module_facts
from ._plan import Program
from ._results import (
    FileChanged,
    FileFailed,
    FileResult,
    FileSkipped,
    FileUnchanged,
    Note,
    Refusal,
)
from ._runner import RunResult, run
from ._transform import transform_module

__all__ = [
    "ConfigError",
    "FileChanged",
    "FileFailed",
    "FileResult",
    "FileSkipped",
    "FileUnchanged",
    "MigrateConfig",
    "MigratedSources",
    "Note",
    "Refusal",
    "RunResult",
    "load_config",
    "migrate_sources",
    "run",
]


class MigratedSources:
    """The result of :func:`migrate_sources`: new code, refusals, notes and kept twins."""

    def __init__(self) -> None:
        self.code: dict[str, str] = {}
        self.refusals: list[Refusal] = []
        self.notes: list[Note] = []
        self.kept: list[Refusal] = []
        self.converted: list[tuple[str, str]] = []


def migrate_sources(
    sources: Mapping[str, str], config: MigrateConfig | None = None
) -> MigratedSources:
    """Migrate in-memory modules ``{path: source}`` as one program (nothing is written).

    Paths name the modules for import resolution (``"pkg/users.py"`` is ``pkg.users``
    and ``users``). Raises ``libcst.ParserSyntaxError`` for a source that does not parse.
    """
    config = config or MigrateConfig()
    modules = {path: cst.parse_module(src) for path, src in sources.items()}
    program = Program([collect_module_facts(p, m, config) for p, m in modules.items()], config)
    program.decide()
    out = MigratedSources()
    for path, module in modules.items():
        output = transform_module(path, module, program.plan(path), config)
        out.code[path] = output.code
        out.refusals.extend(output.refusals)
        out.notes.extend(output.notes)
        out.kept.extend(output.kept)
    out.converted = sorted([*program.converted, *program.converted_methods])
    return out
