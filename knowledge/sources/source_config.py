"""What every ``[[sources]]`` entry shares: its type and name, its sync interval, and who may read its documents."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import pathspec
from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowledge.documents import AccessList


class AccessGrant(BaseModel):
    """Who may read: ``public = true``, or the listed users (e.g. Slack ids) and groups (names as in the config)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    public: bool = False
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> AccessGrant:
        if not self.public and not self.users and not self.groups:
            raise ValueError("an access rule needs `public = true` or at least one of `users` / `groups`")
        return self

    def access_list(self) -> AccessList:
        if self.public:
            return AccessList()
        return AccessList.restricted(users=self.users, groups=self.groups)


class AccessRule(AccessGrant):
    """An access grant for the documents whose relative path (or URL path) matches a gitignore-style ``pattern``."""

    pattern: str = Field(min_length=1)

    @cached_property
    def _spec(self) -> pathspec.GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines([self.pattern])

    def matches(self, relative_path: str) -> bool:
        return self._spec.match_file(relative_path)


def access_for(relative_path: str, rules: Sequence[AccessRule], default: AccessGrant | None) -> AccessList:
    """The first matching rule's access list; with none matching, ``default`` (public when unset)."""
    for rule in rules:
        if rule.matches(relative_path):
            return rule.access_list()
    return default.access_list() if default is not None else AccessList()


class SourceAccessConfig(BaseModel):
    """Access rules shared by connectors that have no permissions of their own (folders, public websites)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access: tuple[AccessRule, ...] = Field(
        default=(), description="Checked in order against each document's relative path; the first match wins."
    )
    default_access: AccessGrant | None = Field(default=None, description="For documents no rule matches; public.")

    def access_for(self, relative_path: str) -> AccessList:
        return access_for(relative_path, self.access, self.default_access)


class SourceConfigBase(BaseModel):
    """Fields every connector's config has; a connector's model subclasses this with a ``Literal`` ``type``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=64,
        description="Unique name, used by `switchboard sync NAME` and stored with every document.",
    )
    sync_interval_minutes: float = Field(default=60.0, gt=0, description="How often `serve` re-syncs this source.")
