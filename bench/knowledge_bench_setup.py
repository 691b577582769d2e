"""What the knowledge benchmarks share: a throw-away embedded PostgreSQL and an in-memory source."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import psutil
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import EmbeddedPostgres, start_embedded_postgres, upgrade_database
from knowledge import SourceDocument, create_engine, session_factory
from knowledge.sources import FetchFailure, KnownDocument, Source, Unchanged


def shared_dataset(name: str) -> Path:
    """``shared/data/<name>`` beside the checkout: the main clone's parent, or a worktree's (``wt/<branch>``) one up.

    Looking only at the checkout's parent made a benchmark run from a worktree silently miss the data set.
    """
    checkout = Path(__file__).resolve().parent.parent
    for folder in checkout.parents:
        candidate = folder / "shared" / "data" / name
        if candidate.exists():
            return candidate
    return checkout.parent / "shared" / "data" / name


class MemorySource(Source):
    """Yields a prepared list of documents, as a connector would."""

    def __init__(self, name: str, documents: list[SourceDocument]) -> None:
        self.name = name
        self.documents = documents

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        for document in self.documents:
            yield document


@contextmanager
def embedded_database() -> Iterator[EmbeddedPostgres]:
    """A fresh embedded PostgreSQL in /tmp (reachable by the ``pgserver`` user when run as root), migrated."""
    home = Path(tempfile.mkdtemp(prefix="sbbench-", dir="/tmp"))
    home.chmod(0o755)
    server = start_embedded_postgres(home)
    try:
        upgrade_database(server.url)
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def embedded_database_url() -> Iterator[str]:
    """``embedded_database``'s URL."""
    with embedded_database() as server:
        yield server.url


def server_cpu_seconds(server: EmbeddedPostgres) -> float:
    """CPU time the server's processes have used so far: the postmaster, its live backends and every exited one.

    The postmaster reaps its backends and parallel workers, so their time lands in its children's counters.
    """
    postmaster = psutil.Process(server.pid)
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in postmaster.children():
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total


@asynccontextmanager
async def database_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url, application_name="switchboard-bench")
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
