"""The example apps are imported from examples/ (each folder is put on sys.path)."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for name in ("flask_app", "django_app"):
    path = os.path.join(ROOT, "examples", name)
    if path not in sys.path:
        sys.path.insert(0, path)
