"""What the codemod reports: refusals and kept twins."""

from __future__ import annotations

import dataclasses


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

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by ``--report``."""
        return {
            "file": self.path,
            "line": self.line,
            "function": self.function,
            "reason": self.reason,
        }
