"""The SQL access filter of retrieval: a fixed handful of parameters, however many readers a scope has.

A restricted chunk is readable by a scope when *every* reader shares a principal with its access list
(``ReaderScope.may_read``). One ``principals && reader`` clause per reader made a 2,000-member channel cost a
clause per member in every candidate scan. Instead the scope is reduced in Python to:

* ``shared``: the principals every reader holds (the channel itself, an all-staff group). A chunk granted to any of
  them is readable by all: one ``&&`` test, the whole cost for a single reader and for most chunks.
* ``pivot``: the other principals of the reader holding the fewest. A chunk no shared principal admits must admit
  this reader through one of these, so ``&&`` with this short array keeps almost every other chunk away from...
* ...the exact test: each of the chunk's principals is looked up in a jsonb object naming the readers who hold it,
  and together they must reach every reader. It runs only for chunks that pass the pivot, which are rare in a large
  scope, and costs a key lookup per principal of the chunk, not a pass over the scope.

The scope travels as one jsonb document rather than arrays with an element per reader: psycopg quotes each array
element in Python, which for a 2,000-member channel cost more than the query itself (bench/RESULTS.md), while
``json.dumps`` runs in C. The reduction itself is cached per set of readers (any asker in the same channel hits
it). The filter is exact (tests/knowledge/test_access_filter*.py compare it with ``may_read``)
and its SQL text does not depend on the scope's size.
"""

from __future__ import annotations

import functools
import json
from typing import Any, NamedTuple

from knowledge.documents import Reader, ReaderScope


class _ScopeTerms(NamedTuple):
    shared: tuple[str, ...]
    pivot: tuple[str, ...] | None  # None: only a shared principal can admit every reader
    readers_of: str  # jsonb: each principal outside ``shared`` -> the readers (by index) who hold it
    readers: int


def access_filter(scope: ReaderScope, params: dict[str, Any]) -> str:
    """SQL (with ``{alias}`` for the table) true when every reader of ``scope`` may read a restricted chunk."""
    terms = _scope_terms(frozenset(scope.readers))
    params["access_shared"] = list(terms.shared)
    shared_sql = "{alias}.principals && CAST(:access_shared AS text[])"
    if terms.pivot is None:
        return f"({shared_sql})"
    params["access_pivot"] = list(terms.pivot)
    params["access_readers_of"] = terms.readers_of
    params["access_readers"] = terms.readers
    return (
        f"({shared_sql} OR ({{alias}}.principals && CAST(:access_pivot AS text[]) AND ("  # noqa: S608 - all bound
        "SELECT count(DISTINCT reader) FROM unnest({alias}.principals) AS granted(principal) "
        "CROSS JOIN LATERAL jsonb_array_elements(CAST(:access_readers_of AS jsonb) -> granted.principal) AS reader"
        ") = :access_readers))"
    )


@functools.lru_cache(maxsize=256)
def _scope_terms(readers: frozenset[Reader]) -> _ScopeTerms:
    """The reduction of a set of readers. Cached: every question in a channel has the same readers, whoever asks,
    and for a 2,000-member channel the reduction costs more than the query (bench/RESULTS.md)."""
    reader_sets = {reader.principals() for reader in readers}
    shared = frozenset.intersection(*reader_sets)
    rests: list[frozenset[str]] = sorted((principals - shared for principals in reader_sets), key=sorted)
    if len(reader_sets) == 1 or not all(rests):
        # One reader, or a reader who holds nothing but shared principals: only a shared principal admits them all.
        return _ScopeTerms(tuple(sorted(shared)), None, "{}", len(rests))
    readers_of: dict[str, list[int]] = {}
    for index, rest in enumerate(rests):
        for principal in rest:
            readers_of.setdefault(principal, []).append(index)
    fewest = min(len(rest) for rest in rests)
    pivot = tuple(sorted(next(rest for rest in rests if len(rest) == fewest)))
    return _ScopeTerms(tuple(sorted(shared)), pivot, json.dumps(readers_of, sort_keys=True), len(rests))
