"""The coreset fit stage: embedding rt-polarity's train split with MiniLM (target: under 2 minutes on
this CPU) and loading it back from the on-disk cache (target: under 1 second).

Run: ``.venv/bin/python -m pytest perf/test_embedding_cache.py --benchmark-only``
"""
import pytest

from benchmark.tasks import TASKS
from methods.embeddings import EmbeddingSpace, cached_embeddings


@pytest.fixture(scope="module")
def task():
    return TASKS.create("rt-polarity")


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path))
    return tmp_path


def test_embed_train_split_cold(benchmark, task, empty_cache):
    def cold():
        for f in (empty_cache / "embeddings").glob("*.npy"):
            f.unlink()
        return cached_embeddings(task, EmbeddingSpace("minilm", "cls"))[0]

    embeddings = benchmark.pedantic(cold, rounds=1, iterations=1)
    assert embeddings.shape == (len(task.splits.train), 384)


def test_load_train_split_embeddings_from_cache(benchmark, task, empty_cache):
    space = EmbeddingSpace("minilm", "cls")
    cached_embeddings(task, space)
    embeddings = benchmark.pedantic(lambda: cached_embeddings(task, space)[0], rounds=5, iterations=1)
    assert embeddings.shape == (len(task.splits.train), 384)
