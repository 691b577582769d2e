"""Every embedder passes the same tests: fixed dimension, unit vectors, order kept, similar texts closer."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from knowledge import Embedder, EmbeddingError, EmbeddingsConfig, create_embedder
from tests.fakes.scripted_model import ScriptedModelServer


@pytest.fixture(params=["wordllama", "openai"])
async def embedder(request: pytest.FixtureRequest, scripted_model: ScriptedModelServer) -> AsyncIterator[Embedder]:
    if request.param == "wordllama":
        config = EmbeddingsConfig()
    else:
        config = EmbeddingsConfig(
            provider="openai", base_url=scripted_model.base_url, model="scripted-embed", api_key=SecretStr("k")
        )
    embedder = create_embedder(config)
    yield embedder
    await embedder.aclose()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_vectors_are_unit_length_in_order_and_of_one_dimension(embedder: Embedder) -> None:
    texts = ["rotate the VPN certificate", "parental leave policy", "on-call handoff on Mondays"]
    vectors = await embedder.embed(texts)
    assert len(vectors) == 3
    assert {len(v) for v in vectors} == {embedder.dimensions}
    for vector in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)
    again = await embedder.embed(texts[1:2])
    assert cosine(again[0], vectors[1]) == pytest.approx(1.0, abs=1e-5)


async def test_related_texts_are_closer_than_unrelated_ones(embedder: Embedder) -> None:
    query, related, unrelated = await embedder.embed(
        ["VPN certificate rotation", "how to rotate your VPN certificate", "parental leave for new parents"]
    )
    assert cosine(query, related) > cosine(query, unrelated)


async def test_empty_input_gives_empty_output(embedder: Embedder) -> None:
    assert await embedder.embed([]) == []


async def test_the_openai_adapter_keeps_input_order_whatever_order_the_endpoint_answers_in(
    scripted_model: ScriptedModelServer,
) -> None:
    config = EmbeddingsConfig(
        provider="openai",
        base_url=scripted_model.base_url,
        model="scripted-embed",
        api_key=SecretStr("k"),
        batch_size=2,
    )
    embedder = create_embedder(config)
    texts = ["rotate the VPN certificate", "parental leave policy", "on-call handoff on Mondays"]
    try:
        one_by_one = [(await embedder.embed([text]))[0] for text in texts]
        scripted_model.embeddings_in_reverse = True
        together = await embedder.embed(texts)
        batches = [body["input"] for body in scripted_model.requests[-2:]]
    finally:
        scripted_model.reset()
        await embedder.aclose()

    assert batches == [texts[:2], texts[2:]]
    assert cosine(one_by_one[0], one_by_one[1]) < 0.99  # distinct texts, so a swap would show
    for vector, alone in zip(together, one_by_one, strict=True):
        assert cosine(vector, alone) == pytest.approx(1.0, abs=1e-5)


def test_names_identify_the_model() -> None:
    assert create_embedder(EmbeddingsConfig()).name == "wordllama/l2_supercat-256"
    with pytest.raises(EmbeddingError, match="EMBEDDINGS_MODEL is required"):
        create_embedder(EmbeddingsConfig(provider="openai"))
