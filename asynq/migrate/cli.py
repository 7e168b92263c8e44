"""Entry point of the ``asynq-migrate`` console script."""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
