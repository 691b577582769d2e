"""What every knowledge source yields: documents with a stable id, structured text and an access list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

GROUP_PREFIX = "group:"
EMAIL_PREFIX = "email:"
EXTERNAL_GROUP_PREFIX = "source-group:"
DOMAIN_PREFIX = "domain:"


def group_principal(name: str) -> str:
    return GROUP_PREFIX + name


def email_principal(email: str) -> str:
    """A person as SaaS sources name them (Confluence, GitHub, Google grant access to accounts with an email)."""
    return EMAIL_PREFIX + email.strip().lower()


def domain_principal(domain: str) -> str:
    """Everyone whose email is at ``domain`` (Google Drive's "anyone at acme.example" sharing)."""
    return DOMAIN_PREFIX + domain.strip().lower()


def external_group_principal(source: str, group: str) -> str:
    """A group synced from one source (a GitHub team, a Confluence group, a Slack channel's members).

    Namespaced by source name so that two sources' groups, and the config file's ``[groups]``, never collide.
    """
    return f"{EXTERNAL_GROUP_PREFIX}{source}:{group}"


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
    # Principals already in their stored form (``email:...``, ``source-group:...``), as SaaS connectors grant them.
    principals_granted: frozenset[str] = frozenset()
    # Set when the source could not say who may read the document: then nobody may, until it can (fail closed).
    unreadable_reason: str | None = None

    @classmethod
    def restricted(
        cls, users: Iterable[str] = (), groups: Iterable[str] = (), principals: Iterable[str] = ()
    ) -> AccessList:
        return cls(
            public=False, users=frozenset(users), groups=frozenset(groups), principals_granted=frozenset(principals)
        )

    @classmethod
    def unreadable(cls, reason: str) -> AccessList:
        """Nobody may read: the document's permissions could not be read (``/kb status`` shows ``reason``)."""
        return cls(public=False, unreadable_reason=reason)

    def principals(self) -> list[str]:
        """Users and namespaced groups in one sorted list, the form stored next to each chunk."""
        if self.unreadable_reason is not None:
            return []
        return sorted(self.users | self.principals_granted | {group_principal(group) for group in self.groups})

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
    # Their email (from Slack's users.info), the identity SaaS sources grant access to.
    email: str | None = None
    # Principals of the groups synced from sources that count them in (``external_group_principal``).
    external_groups: frozenset[str] = frozenset()

    @classmethod
    def for_user(cls, user_id: str) -> Reader:
        """A reader in no groups."""
        return cls(user_id=user_id)

    def identity_principals(self) -> frozenset[str]:
        """Who the reader is, without groups: the keys external group memberships are stored under."""
        return frozenset({self.user_id} | ({email_principal(self.email)} if self.email else set()))

    def principals(self) -> frozenset[str]:
        """The same namespacing as ``AccessList.principals``, so the two can be intersected."""
        domain = {domain_principal(self.email.rsplit("@", 1)[1])} if self.email and "@" in self.email else set()
        return (
            self.identity_principals()
            | domain
            | {group_principal(group) for group in self.groups}
            | self.external_groups
        )


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
