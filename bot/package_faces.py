"""Package faces that import on first use, so importing one small module does not build the whole service.

``bot`` and ``bot.slack`` export their public names from ``__init__.py``; importing them eagerly would load the
Bolt app, the agent runtime and LangGraph for a caller that wanted only the settings or the manifest, and would
tie the subpackages into import cycles (scheduling needs the Slack Web API client; the Slack app needs
scheduling). Each face lists its names under ``TYPE_CHECKING`` for type checkers and resolves them here at run
time (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """Return a module ``__getattr__`` for ``package`` that imports ``exports[name]`` (a module path) on first use.

    Args:
        package: the package's ``__name__``, for the error message.
        exports: each public name mapped to the module that defines it.
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
