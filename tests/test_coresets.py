"""Coreset baselines: selections pinned against brute-force definitions on small 2-D point sets, the
shared embedding cache, and the registered methods' contracts (DPC distinct indices per class, seeds)."""
import itertools

import numpy as np
import pytest

from dilm.selection import kmeans_centers
from methods import METHODS
from methods.coreset_selection import herding, kcenter_greedy
from methods.embeddings import EmbeddingSpace, cache_path, cached_embeddings


def points(n=40, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2)) * [3.0, 1.0]


def brute_force_herding(x, k):
    """The definition, spelled out: at step t, over every unselected candidate, the L2 distance between
    t x mean and the sum of the selection plus the candidate; keep the smallest (first on ties)."""
    mean = x.mean(axis=0)
    chosen = []
    for t in range(1, k + 1):
        best, best_gap = None, None
        for i in range(len(x)):
            if i in chosen:
                continue
            total = sum((x[j] for j in chosen), np.zeros(2)) + x[i]
            gap = np.sqrt(((t * mean - total) ** 2).sum())
            if best_gap is None or gap < best_gap:
                best, best_gap = i, gap
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_herding_matches_the_definition_step_by_step(seed):
    x = points(seed=seed)
    assert herding(x, 12).tolist() == brute_force_herding(x, 12)


def test_herding_takes_the_argmin_not_the_argmax():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [10.0, 0.0], [-10.0, 0.0]])
    assert herding(x, 1).tolist() == [0]  # the point nearest the mean; argmax would take an outlier
    assert herding(x, 3).tolist()[:1] == [0]


def brute_force_radius(x, chosen):
    return max(min(np.linalg.norm(x[i] - x[j]) for j in chosen) for i in range(len(x)))


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_kcenter_greedy_is_farthest_first_with_the_right_covering_radius(seed):
    x = points(seed=seed)
    chosen, radius = kcenter_greedy(x, 8, seed=seed)
    assert radius == pytest.approx(brute_force_radius(x, chosen.tolist()))
    for step in range(1, 8):  # each pick is the point farthest from the picks before it
        before = chosen[:step].tolist()
        distances = [min(np.linalg.norm(x[i] - x[j]) for j in before) for i in range(len(x))]
        assert distances[chosen[step]] == pytest.approx(max(distances))
    # greedy is a 2-approximation of the optimal covering radius (brute force over all 3-subsets)
    small = x[:12]
    _, greedy_radius = kcenter_greedy(small, 3, seed=seed)
    optimum = min(brute_force_radius(small, list(c)) for c in itertools.combinations(range(12), 3))
    assert optimum <= greedy_radius <= 2 * optimum + 1e-9


def test_kmeans_centers_returns_the_members_nearest_their_centroids():
    from sklearn.cluster import KMeans

    x = points(60, seed=5)
    chosen = kmeans_centers(x, 6, seed=11)
    centroids = KMeans(n_clusters=6, init="k-means++", n_init=1, random_state=11).fit(x).cluster_centers_
    nearest = [int(np.argmin(((x - c) ** 2).sum(1))) for c in centroids]
    assert chosen.tolist() == nearest  # well-separated random points: no two centroids share a nearest point
    assert kmeans_centers(x, 6, seed=11).tolist() == chosen.tolist()
    assert kmeans_centers(x, 6, seed=12).tolist() != chosen.tolist()


def test_selectors_return_distinct_rows_even_with_duplicates():
    x = np.repeat(points(5), 4, axis=0)  # every point four times
    for chosen in (herding(x, 10), kcenter_greedy(x, 10, seed=0)[0], kmeans_centers(x, 5, seed=0)):
        assert len(set(chosen.tolist())) == len(chosen)
    with pytest.raises(ValueError, match="cannot select 21 of 20"):
        herding(x, 21)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


CORESETS = ["herding", "kmeans-centers", "kcenter-greedy"]


@pytest.mark.real
@pytest.mark.parametrize("name", CORESETS)
def test_coreset_methods_on_a_real_encoder(name, tiny_task, cache_dir, minilm_assets):
    method = METHODS.create(name)
    state = method.fit(tiny_task, None)
    train = tiny_task.splits.train
    for dpc in (1, 4):
        a = method.distill(state, dpc, seed=0)
        assert a.per_class() == {"negative": dpc, "positive": dpc}
        assert len(set(a.source_indices.tolist())) == 2 * dpc
        assert np.array_equal(train.labels[a.source_indices], a.examples.labels)
        assert np.array_equal(a.source_indices, method.distill(state, dpc, seed=0).source_indices)
    differs = not np.array_equal(method.distill(state, 4, 0).source_indices, method.distill(state, 4, 1).source_indices)
    assert differs == (not method.deterministic)  # random methods change with the seed, herding never
    assert method.get_params() == {"encoder": "minilm", "pooling": "cls", "max_length": 64, "precision": "fp32"}


@pytest.mark.real
def test_embeddings_are_cached_once_and_shared(tiny_task, cache_dir, minilm_assets):
    space = EmbeddingSpace("minilm", "cls")
    first, path = cached_embeddings(tiny_task, space)
    assert path == cache_path(tiny_task, tiny_task.splits.train, space) and path.suffix == ".npy"
    assert first.shape == (len(tiny_task.splits.train), 384) and first.dtype == np.float32
    stamp = path.stat().st_mtime_ns
    for name in CORESETS:  # every coreset method reads the same file, none recomputes it
        assert np.array_equal(METHODS.create(name).fit(tiny_task, None).embeddings, first)
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left
    mean, mean_path = cached_embeddings(tiny_task, EmbeddingSpace("minilm", "mean"))
    assert mean_path != path and not np.allclose(mean, first)


@pytest.mark.real
def test_coresets_run_in_a_grid_and_resume_from_the_cache(tmp_path, cache_dir, minilm_assets, capsys):
    from benchmark.cli import main
    from benchmark.study.store import Store

    grid = tmp_path / "g.yaml"
    grid.write_text("name: cs\ntasks: [tiny-sentiment]\ndpcs: [2, 3]\nmethods: [herding, kmeans-centers, "
                    "{name: kcenter-greedy, params: {pooling: mean}}]\nlearners: [tfidf-logreg]\nn_sets: 2\nn_evals: 1\n")
    args = ["run", "--grid", str(grid), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
            "--no-progress"]
    assert main(args) == 0
    store = Store(tmp_path / "runs")
    evaluated = list(store.done_records("evaluate"))
    # herding is deterministic: one set per DPC; the others: 2 sets per DPC
    assert len(evaluated) == 2 * 1 + 2 * 2 + 2 * 2
    out = capsys.readouterr().out
    assert "herding" in out and "kmeans-centers" in out and "kcenter-greedy" in out
    assert len(list((cache_dir / "embeddings").iterdir())) == 2  # cls (shared by two methods) and mean


def brute_force_nearest_untaken(x, centers):
    """The definition on the full (k, n, d) array: each center in order takes its nearest free row (lowest index
    on ties)."""
    distances = ((x[None, :, :] - centers[:, None, :]) ** 2).sum(-1)
    chosen = []
    for row in distances:
        for candidate in np.argsort(row, kind="stable"):
            if candidate not in chosen:
                chosen.append(int(candidate))
                break
    return chosen


@pytest.mark.parametrize("block_elements", [1, 7, 1 << 22])
def test_blocked_nearest_untaken_matches_the_full_distance_array(block_elements, monkeypatch):
    """Centers in blocks (as small as one center, or points in slices of one row) pick exactly what the
    (k, n, d) definition picks, including collisions (many centers near one point) and duplicate rows."""
    import dilm.selection as selection

    monkeypatch.setattr(selection, "CHUNK_ELEMENTS", block_elements)
    rng = np.random.default_rng(3)
    x = np.concatenate([points(50, seed=4), points(5, seed=4)]).astype(np.float32)  # 5 exact duplicates
    centers = np.concatenate([x[:3] + 1e-3, rng.normal(size=(9, 2)) * 2, x[:2]])  # collisions on rows 0..2
    assert selection.nearest_untaken(x, centers).tolist() == brute_force_nearest_untaken(x.astype(np.float64), centers)


@pytest.mark.parametrize("rows_per_slice", [1, 3, 8192])
def test_sliced_herding_and_kcenter_equal_their_unsliced_picks(rows_per_slice, monkeypatch):
    import methods.coreset_selection as selection

    x = np.random.default_rng(8).normal(size=(70, 5)).astype(np.float32)
    monkeypatch.setattr(selection, "ROWS_PER_SLICE", 10 ** 6)
    whole = selection.herding(x, 9).tolist(), selection.kcenter_greedy(x, 9, seed=2)[0].tolist()
    monkeypatch.setattr(selection, "ROWS_PER_SLICE", rows_per_slice)
    assert (selection.herding(x, 9).tolist(), selection.kcenter_greedy(x, 9, seed=2)[0].tolist()) == whole
