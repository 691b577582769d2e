"""The protocol of sources with permissions of their own (Confluence, Slack channels, GitHub).

Content sync (``Source.fetch``) yields each changed document with the access it has *now*; permission sync asks
the source for current access lists and group memberships only, so a restriction that changes without an edit
is applied within one ``permission_sync_minutes`` and costs no content requests. A source that cannot read a
document's permissions says so (``AccessList.unreadable``): that document is visible to nobody until it can.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from knowledge.documents import AccessList
from knowledge.sources.abc import Source


class ExternalGroup(BaseModel):
    """A group as its source defines it, with its members' identity principals (``email:...`` or Slack ids)."""

    model_config = ConfigDict(frozen=True)

    # ``external_group_principal(source, group)``, the form documents grant access to.
    principal: str
    members: frozenset[str] = frozenset()


class AccessUpdate(BaseModel):
    """One document's current access list, as permission sync reads it."""

    external_id: str
    access: AccessList


class PermissionedSource(Source):
    """A source whose documents carry the source's own permissions, re-read on their own cadence."""

    permission_sync_minutes: float = 10.0
    # Set by ``external_groups`` when some group could not be listed; that group is yielded without members
    # (nobody reads through it) rather than kept stale, and this says which and why.
    groups_error: str | None = None

    @abstractmethod
    def external_groups(self) -> AsyncIterator[ExternalGroup]:
        """Every group documents of this source may grant access to, with its current members."""

    @abstractmethod
    def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        """Current access of these indexed documents, without fetching their content.

        Documents it does not yield keep their stored access (e.g. gone upstream: the next deletion check removes
        them); a document whose permissions cannot be read is yielded with ``AccessList.unreadable``.
        """


def intersect_access(
    levels: Sequence[frozenset[str]],
    group_prefix: str,
    members: Mapping[str, frozenset[str]],
    failed: Mapping[str, str],
) -> AccessList:
    """Who passes every level of access (a space and its page restrictions, a project and an issue's security level).

    One level is stored as it is, groups kept as groups (synced with their members); several are intersected person
    by person through the synced members of the groups named ``group_prefix + name``. A group whose members could not
    be listed makes the intersection unknowable, so the document is readable by nobody (fail closed).
    """
    if not levels:
        return AccessList()
    if len(levels) == 1:
        return AccessList.restricted(principals=levels[0])
    names = [p.removeprefix(group_prefix) for level in levels for p in level if p.startswith(group_prefix)]
    unlisted = [name for name in names if name in failed]
    if unlisted:
        return AccessList.unreadable(f"the members of group {unlisted[0]} could not be listed")

    def people(level: frozenset[str]) -> frozenset[str]:
        found = {p for p in level if not p.startswith(group_prefix)}
        for principal in level:
            if principal.startswith(group_prefix):
                found |= members.get(principal.removeprefix(group_prefix), frozenset())
        return frozenset(found)

    return AccessList.restricted(principals=frozenset.intersection(*(people(level) for level in levels)))
