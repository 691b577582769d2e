"""``/kb status|sources|sync``: what the knowledge index holds, where it comes from, and syncing it on demand.

Reading is open to everyone (it names sources and counts, never document contents); ``sync`` costs fetching and
embedding work, so it is for editors and admins, like other changes. A failed document is named only to those who
may read it (``ReaderScope.may_read`` on its access list); everyone else sees how many such failures there were.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from bot.markdown_rendering import escape_mrkdwn
from bot.slack.commands import CommandError, CommandInvocation, CommandRegistry, CommandReply
from knowledge import DocumentFailure, KnowledgeStatus, Reader, ReaderScope, SourceConfigBase, SyncSummary

SyncSource = Callable[[SourceConfigBase], Awaitable[SyncSummary]]
ReadStatus = Callable[[], Awaitable[KnowledgeStatus]]
FAILURES_SHOWN = 5
EMPTY_INDEX = "The knowledge index is empty: no source has been synced yet (`/kb sync`)."


def failure_lines(failures: Iterable[DocumentFailure], scope: ReaderScope) -> list[str]:
    """One line per failed document ``scope`` may read; one count for the others (their access unknown or denied)."""
    lines: list[str] = []
    hidden = 0
    for failure in failures:
        if failure.access is None or not scope.may_read(failure.access):
            hidden += 1
            continue
        name = escape_mrkdwn(failure.title or failure.external_id)
        lines.append(f"    failed: {name}: {escape_mrkdwn(failure.reason)}")
    if hidden:
        lines.append(f"    {hidden} more failure{'s' if hidden != 1 else ''} in documents you cannot read")
    return lines


def source_status_lines(status: KnowledgeStatus, scope: ReaderScope) -> list[str]:
    """One entry per source: its size, its last sync and that sync's failures (named only if ``scope`` may read
    them), as ``/kb status`` and App Home show them."""
    lines = []
    for source in status.sources:
        line = f"• *{escape_mrkdwn(source.source)}*: {source.documents} documents, {source.chunks} passages"
        run = source.last_run
        if run is not None:
            when = run.started_at.strftime("%Y-%m-%d %H:%M UTC")
            line += (
                f"; last sync {when} {run.status}: {run.added} added, {run.updated} updated, "
                f"{run.unchanged} unchanged, {run.deleted} deleted, {run.failed} failed"
            )
            if run.error:
                line += f"\n    error: {escape_mrkdwn(run.error)}"
            line += "".join(f"\n{entry}" for entry in failure_lines(run.failures[:FAILURES_SHOWN], scope))
        if source.unreadable_permissions:
            line += (
                f"\n    {source.unreadable_permissions} documents are visible to nobody: their permissions "
                f"could not be read ({escape_mrkdwn(source.unreadable_reason or 'no reason given')})"
            )
        if source.permissions_error:
            line += f"\n    permission sync: {escape_mrkdwn(source.permissions_error)}"
        lines.append(line)
    return lines


class KnowledgeCommands:
    def __init__(
        self,
        sources: Sequence[SourceConfigBase],
        read_status: ReadStatus,
        sync: SyncSource,
        reader: Callable[[str], Reader] = Reader.for_user,
    ) -> None:
        self.sources = list(sources)
        self.read_status = read_status
        self.sync_source = sync
        self.reader = reader

    def _scope(self, invocation: CommandInvocation) -> ReaderScope:
        """Command replies are ephemeral: only the person who typed the command reads them."""
        return ReaderScope(readers=(self.reader(invocation.user_id),))

    async def status(self, invocation: CommandInvocation) -> CommandReply:
        status = await self.read_status()
        if not status.sources:
            return CommandReply(text=EMPTY_INDEX)
        lines = ["*Knowledge index*", *source_status_lines(status, self._scope(invocation))]
        return CommandReply(text="\n".join(lines))

    async def list_sources(self, invocation: CommandInvocation) -> CommandReply:
        if not self.sources:
            return CommandReply(text="No knowledge sources are configured (`[[sources]]` in the config file).")
        lines = ["*Knowledge sources* (from the config file)"]
        for config in self.sources:
            lines.append(
                f"• *{escape_mrkdwn(config.name)}* ({config.type}), re-synced every "
                f"{config.sync_interval_minutes:g} minutes"
            )
        return CommandReply(text="\n".join(lines))

    async def sync(self, invocation: CommandInvocation) -> CommandReply:
        wanted = invocation.args[0] if invocation.args else None
        chosen = [config for config in self.sources if wanted is None or config.name == wanted]
        if not chosen:
            names = ", ".join(config.name for config in self.sources) or "none are configured"
            raise CommandError(f"There is no source named `{escape_mrkdwn(wanted or '')}`; sources: {names}.")
        lines = []
        scope = self._scope(invocation)
        for config in chosen:
            summary = await self.sync_source(config)
            line = (
                f"• *{escape_mrkdwn(summary.source)}* {summary.status} in {summary.seconds:.1f} s: "
                f"{summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
                f"{summary.deleted} deleted, {summary.failed} failed"
            )
            if summary.error:
                line += f"\n    error: {escape_mrkdwn(summary.error)}"
            line += "".join(f"\n{entry}" for entry in failure_lines(summary.failures[:FAILURES_SHOWN], scope))
            lines.append(line)
        return CommandReply(text="\n".join(lines))


def register_kb_commands(
    registry: CommandRegistry,
    sources: Sequence[SourceConfigBase],
    read_status: ReadStatus,
    sync: SyncSource,
    reader: Callable[[str], Reader] = Reader.for_user,
) -> None:
    """``reader`` gives a Slack user's groups (``Settings.reader``), which decide which failed documents they see."""
    commands = KnowledgeCommands(sources, read_status, sync, reader)
    registry.register("/kb", "status", commands.status, summary="documents per source and the last sync", max_args=0)
    registry.register("/kb", "sources", commands.list_sources, summary="the configured sources", max_args=0)
    registry.register(
        "/kb",
        "sync",
        commands.sync,
        usage="[SOURCE]",
        summary="sync one source (or all) now; editors and admins",
        max_args=1,
        acknowledgement=lambda args: f"Syncing {args[0] if args else 'every source'} now; I will report here.",
    )
