"""The SQL access filter of retrieval: a fixed handful of array parameters, however many readers a scope has.

A restricted chunk is readable by a scope when *every* reader shares a principal with its access list
(``ReaderScope.may_read``). One ``principals && reader`` clause per reader made a 2,000-member channel cost a
clause per member in every candidate scan. Instead the scope is reduced in Python to:

* ``shared``: the principals every reader holds (the channel itself, an all-staff group). A chunk granted to any of
  them is readable by all: one ``&&`` test, the whole cost for a single reader and for most chunks.
* ``pivot``: the other principals of the reader holding the fewest. A chunk no shared principal admits must admit
  this reader through one of these, so ``&&`` with this short array keeps almost every other chunk away from...
* ...the exact test: the chunk's principals, looked up in the (principal, reader) pairs of the scope, must reach
  every reader. It runs only for chunks that pass the pivot, which are rare in a large scope.

The filter is exact (tests/knowledge/test_access_filter*.py compare it with ``may_read``) and its SQL text does
not depend on the scope's size.
"""

from __future__ import annotations

from typing import Any

from knowledge.documents import ReaderScope


def access_filter(scope: ReaderScope, params: dict[str, Any]) -> str:
    """SQL (with ``{alias}`` for the table) true when every reader of ``scope`` may read a restricted chunk."""
    reader_sets = sorted({frozenset(reader.principals()) for reader in scope.readers}, key=sorted)
    shared = frozenset.intersection(*reader_sets)
    params["access_shared"] = sorted(shared)
    shared_sql = "{alias}.principals && CAST(:access_shared AS text[])"
    rests = [principals - shared for principals in reader_sets]
    if len(reader_sets) == 1 or not all(rests):
        # One reader, or a reader who holds nothing but shared principals: only a shared principal admits them all.
        return f"({shared_sql})"
    pivot = min(rests, key=len)
    pairs = sorted((principal, index) for index, rest in enumerate(rests) for principal in rest)
    params["access_pivot"] = sorted(pivot)
    params["access_pair_principals"] = [principal for principal, _ in pairs]
    params["access_pair_readers"] = [index for _, index in pairs]
    params["access_readers"] = len(rests)
    return (
        f"({shared_sql} OR ({{alias}}.principals && CAST(:access_pivot AS text[]) AND ("  # noqa: S608 - all bound
        "SELECT count(DISTINCT pair.reader) FROM unnest(CAST(:access_pair_principals AS text[]), "
        "CAST(:access_pair_readers AS integer[])) AS pair(principal, reader) "
        "WHERE pair.principal = ANY({alias}.principals)) = :access_readers))"
    )
