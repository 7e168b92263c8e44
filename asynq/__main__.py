"""``python -m asynq`` runs the demo (the same as the ``asynq`` command)."""

from .demo import main

if __name__ == "__main__":
    raise SystemExit(main())
