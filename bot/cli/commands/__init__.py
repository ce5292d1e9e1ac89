"""Extra ``paperbot`` sub-commands, one module per area (eval, summarize, serve, ...).

Each module registers its commands on :data:`bot.cli.main.app` when imported; :func:`load_all`
imports every module of this package, so adding a command never means editing ``cli.py``.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["load_all"]


def load_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")
