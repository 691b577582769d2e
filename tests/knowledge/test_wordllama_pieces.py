"""The offline embedder's per-word pooling gives WordLlama's own vectors, for any text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.embeddings import WordLlamaEmbedder, wordllama_embedder
from knowledge.embeddings.wordllama_embedder import load_model
from knowledge.embeddings.wordllama_pieces import PieceTable

# Texts where cutting at spaces could go wrong: leading, trailing and doubled spaces, the "▁" the tokenizer uses
# for spaces, an added token (matched before normalising), newlines, tabs, bytes outside the vocabulary.
AWKWARD = [
    "rotate the VPN certificate",
    "  leading spaces",
    "trailing spaces  ",
    "doubled  space and   tripled",
    " ",
    "   ",
    "\u2581already\u2581spaced\u2581",
    "a\u2581\u2581b c",
    "the model saw <s>A start token and </s> an end one",
    "<unk>",
    "line one\nline two\n\n## Heading\n\tindented",
    "émoji 🎉🎉 and 中文字符, Ünïcode wörds",
    "\u00a0no-break\u00a0spaces",
    "x" * 700,
    "https://example.invalid/a/b?c=d [link](../relative/path.md) `code  with  spaces`",
]


@pytest.fixture(scope="module")
def model() -> Any:
    return load_model()


def wordllama_vectors(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.embed(texts, norm=True, batch_size=64), dtype=np.float32)


async def test_vectors_equal_wordllama_s_own_for_awkward_texts(model: Any) -> None:
    ours = np.asarray(await WordLlamaEmbedder().embed(AWKWARD), dtype=np.float32)
    assert np.abs(ours - wordllama_vectors(model, AWKWARD)).max() < 1e-5


@pytest.fixture(scope="module")
def table(model: Any) -> PieceTable:
    return PieceTable(model)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(list("ab cd\u2581\n\t.,<s/>é中🎉")) | st.characters(exclude_categories=["Cs"]),
            min_size=1,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_vectors_equal_wordllama_s_own_for_any_text(model: Any, table: PieceTable, texts: list[str]) -> None:
    ours = table.mean_vectors(texts)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    assert np.abs(ours - wordllama_vectors(model, texts)).max() < 1e-5


def test_a_full_table_still_pools_new_words_exactly(model: Any) -> None:
    table = PieceTable(model, max_pieces=8)
    texts = [f"passage {index} about rotating certificates number {index * 7}" for index in range(40)]
    first = table.mean_vectors(texts[:20])
    later = table.mean_vectors(texts[20:])  # almost every word is new, and the table is full
    again = table.mean_vectors(texts)
    assert np.abs(np.concatenate([first, later]) - again).max() < 1e-6
    assert np.abs(again / np.linalg.norm(again, axis=1, keepdims=True) - wordllama_vectors(model, texts)).max() < 1e-5


async def test_an_empty_text_gets_a_zero_vector_not_nan() -> None:
    vectors = await WordLlamaEmbedder().embed(["", "something"])
    assert vectors[0] == [0.0] * 256
    assert abs(float(np.linalg.norm(vectors[1])) - 1.0) < 1e-5


async def test_a_warmed_up_embedder_has_loaded_its_model_before_the_first_question(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker warms its embedder before taking jobs: the first answer after a (re)start must not wait for it."""
    loads: list[int] = []
    real_load = wordllama_embedder.load_model

    def counted_load() -> object:
        loads.append(1)
        return real_load()

    monkeypatch.setattr(wordllama_embedder, "load_model", counted_load)
    embedder = WordLlamaEmbedder()
    await embedder.warm_up()
    assert loads == [1]
    [vector] = await embedder.embed(["How many days of parental leave?"])
    assert loads == [1]
    assert len(vector) == embedder.dimensions
