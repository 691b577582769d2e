"""Graders by name, loaded from the ``switchboard.graders`` entry points (built-ins included)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from agents.errors import GraderPluginError
from agents.evaluation.graders.abc import Grader

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "switchboard.graders"


class GraderRegistry:
    def __init__(self, graders: Iterable[Grader] = ()) -> None:
        self._graders: dict[str, Grader] = {}
        for grader in graders:
            self.register(grader)

    @classmethod
    def from_entry_points(
        cls, group: str = ENTRY_POINT_GROUP, *, enabled: Iterable[str] | None = None
    ) -> GraderRegistry:
        """Every grader the installed packages declare; ``enabled`` keeps only the named ones.

        Raises:
            GraderPluginError: a declared grader failed to load, is not a ``Grader``, or a name is taken twice.
        """
        wanted = set(enabled) if enabled is not None else None
        registry = cls()
        for entry_point in sorted(entry_points(group=group), key=lambda ep: ep.name):
            if wanted is not None and entry_point.name not in wanted:
                continue
            try:
                loaded = entry_point.load()
            except Exception as error:
                raise GraderPluginError(
                    f"grader {entry_point.name!r} ({entry_point.value}) failed to load: {error}"
                ) from error
            grader = loaded() if isinstance(loaded, type) else loaded
            if not isinstance(grader, Grader):
                raise GraderPluginError(
                    f"entry point {entry_point.value} is not a Grader (got {type(grader).__name__})"
                )
            registry.register(grader)
        if wanted is not None and (missing := wanted - set(registry.names())):
            raise GraderPluginError(
                f"graders {sorted(missing)} are enabled in the config but no installed package declares them "
                f"(entry-point group {group!r})"
            )
        return registry

    def register(self, grader: Grader) -> None:
        if grader.name in self._graders:
            raise GraderPluginError(f"two graders are named {grader.name!r}; rename one")
        self._graders[grader.name] = grader

    def names(self) -> list[str]:
        return sorted(self._graders)

    def all(self) -> list[Grader]:
        return [self._graders[name] for name in self.names()]
