"""What the codemod reports: refusals, notes, kept twins, and the outcome of each file.

A file's outcome is one of four result types, in the spirit of LibCST's
``TransformSuccess`` / ``TransformFailure`` / ``TransformSkip``: :class:`FileChanged`,
:class:`FileUnchanged`, :class:`FileFailed` and :class:`FileSkipped`, all
:class:`FileResult`. The runner, the summary, the report and the exit status dispatch on
the type; :attr:`FileResult.status` is only the word the JSON report prints.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar


@dataclasses.dataclass
class Refusal:
    """Something the codemod left untouched on purpose, to be reviewed by a person.

    ``unit``/``ordinal``/``method`` say where (the worker that rewrites the file turns
    them into ``line``).
    """

    path: str
    function: str
    reason: str
    unit: int | None = None
    ordinal: int | None = None
    method: tuple[str, str] | None = None
    line: int = 0
    #: the refusal does not apply to a function that calls its twin itself: converted, it
    #: keeps that call (whose priming joins its rounds), and reads that cannot become yields
    #: stay plain calls, served by that priming as before
    about_twin: bool = dataclasses.field(default=False, compare=False)

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``--report``."""
        return {
            "file": self.path,
            "line": self.line,
            "function": self.function,
            "reason": self.reason,
        }


@dataclasses.dataclass
class Note:
    """Something worth a look that the codemod did anyway (does not need review)."""

    path: str
    line: int
    function: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``--report``."""
        return {
            "file": self.path,
            "line": self.line,
            "function": self.function,
            "message": self.message,
        }


@dataclasses.dataclass
class FileResult:
    """The outcome for one file; always one of its four subclasses.

    Every outcome carries what the analysis and the rewrite found in the file (refusals,
    notes, kept twins), even a failed one: the plan's refusals stay worth reviewing.
    """

    #: the word used for this outcome in the JSON report's ``files[].status``
    status: ClassVar[str] = ""

    path: str
    refusals: list[Refusal] = dataclasses.field(default_factory=list)
    notes: list[Note] = dataclasses.field(default_factory=list)
    kept: list[Refusal] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if type(self) is FileResult:
            raise TypeError(
                "FileResult is the base of the per-file outcomes; create a FileChanged, "
                "FileUnchanged, FileFailed or FileSkipped instead."
            )

    @property
    def detail(self) -> str | None:
        """What the report prints under ``error``: why it failed or was skipped, or None."""
        return None


@dataclasses.dataclass
class FileChanged(FileResult):
    """The rewrite changed the file (and the new code compiles)."""

    status: ClassVar[str] = "changed"

    #: the new code, encoded as the file was
    new_bytes: bytes = b""
    #: the unified diff ("" unless a diff was asked for)
    diff: str = ""
    #: whether the new code was written to disk (``--write``)
    written: bool = False


@dataclasses.dataclass
class FileUnchanged(FileResult):
    """Nothing in the file needed a change."""

    status: ClassVar[str] = "unchanged"


@dataclasses.dataclass
class FileFailed(FileResult):
    """The file could not be read, parsed, rewritten or written; it is left as it was.

    ``error`` is a sentence, or the traceback of a bug in the codemod.
    """

    status: ClassVar[str] = "failed"

    error: str = ""

    @property
    def detail(self) -> str | None:
        return self.error


@dataclasses.dataclass
class FileSkipped(FileResult):
    """The file was analysed but not rewritten (configuration ``exclude`` or marker)."""

    status: ClassVar[str] = "skipped"

    reason: str = ""

    @property
    def detail(self) -> str | None:
        return self.reason
