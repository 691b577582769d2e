"""What every knowledge source yields: documents with a stable id, structured text and an access list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

GROUP_PREFIX = "group:"


def group_principal(name: str) -> str:
    return GROUP_PREFIX + name


class AccessList(BaseModel):
    """Who may read a document: everyone (``public``), or the listed users and groups.

    ``users`` are user ids (Slack ``U123``); ``groups`` are group names as written in the config file (``security``).
    Flattened into one list of principals, groups are namespaced (``group:security``) so no user id can ever
    match a group.
    """

    model_config = ConfigDict(frozen=True)

    public: bool = True
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def restricted(cls, users: Iterable[str] = (), groups: Iterable[str] = ()) -> AccessList:
        return cls(public=False, users=frozenset(users), groups=frozenset(groups))

    def principals(self) -> list[str]:
        """Users and namespaced groups in one sorted list, the form stored next to each chunk."""
        return sorted(self.users | {group_principal(group) for group in self.groups})

    @classmethod
    def from_stored(cls, is_public: bool, principals: Iterable[str]) -> AccessList:
        """The access list back from its stored form (``is_public`` and ``principals``)."""
        if is_public:
            return cls()
        listed = list(principals)
        groups = [name.removeprefix(GROUP_PREFIX) for name in listed if name.startswith(GROUP_PREFIX)]
        return cls.restricted(users=[name for name in listed if not name.startswith(GROUP_PREFIX)], groups=groups)


class Reader(BaseModel):
    """One person who will see an answer: their user id and the groups they belong to."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    groups: frozenset[str] = frozenset()

    @classmethod
    def for_user(cls, user_id: str) -> Reader:
        """A reader in no groups."""
        return cls(user_id=user_id)

    def principals(self) -> frozenset[str]:
        """The same namespacing as ``AccessList.principals``, so the two can be intersected."""
        return frozenset({self.user_id} | {group_principal(group) for group in self.groups})


class ReaderScope(BaseModel):
    """Everyone an answer will be shown to. A document is usable only if *every* reader may read it.

    A DM or the CLI has one reader (the asker); a shared channel has all its members.
    """

    model_config = ConfigDict(frozen=True)

    readers: tuple[Reader, ...] = Field(min_length=1)

    @classmethod
    def single(cls, user_id: str, groups: Iterable[str] = ()) -> ReaderScope:
        return cls(readers=(Reader(user_id=user_id, groups=frozenset(groups)),))

    def may_read(self, access: AccessList) -> bool:
        """The reference rule that retrieval's SQL filter implements."""
        if access.public:
            return True
        allowed = set(access.principals())
        return all(reader.principals() & allowed for reader in self.readers)


class SourceDocument(BaseModel):
    """One document as a source yields it.

    ``content`` is Markdown: connectors convert HTML, PDF and Word into headings, paragraphs, lists, code blocks and
    tables, so one chunker serves every source. ``url`` is absolute; chunks add ``#anchor`` deep links to it.
    """

    source: str
    external_id: str = Field(min_length=1)
    title: str
    url: str
    content: str
    updated_at: datetime | None = None
    access: AccessList = Field(default_factory=AccessList)
    # Opaque validators for conditional re-fetching (HTTP ETag / Last-Modified); stored and handed back next sync.
    etag: str | None = None
    last_modified: str | None = None
