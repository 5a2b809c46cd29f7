"""Feature cache: keyed by content, never stale, safe with concurrent writers."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from gandiag.features import extract_features
from gandiag.features.cache import CACHE_ENV, FeatureCache, array_sha256, default_cache_dir


class CountingExtractor:
    """Features = 2 * samples; counts how often it really runs."""

    name = "counting"
    version = 1
    weights_sha256 = "w0"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x, *, batch_size: int = 0) -> np.ndarray:
        self.calls += 1
        return 2.0 * np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def test_hit_returns_stored_features_without_running_the_extractor(tmp_path) -> None:
    cache, ext = FeatureCache(tmp_path), CountingExtractor()
    x = np.arange(12.0).reshape(4, 3)
    first = cache.features(x, ext)
    second = cache.features(x.copy(), ext)
    assert ext.calls == 1
    np.testing.assert_array_equal(first, 2 * x)
    np.testing.assert_array_equal(second, first)


def test_changed_samples_give_fresh_features(tmp_path) -> None:
    cache, ext = FeatureCache(tmp_path), CountingExtractor()
    x = torch.zeros(5, 2)
    cache.features(x, ext)
    x[3, 1] = 1.0  # same object, same shape, one value changed in place
    np.testing.assert_array_equal(cache.features(x, ext), 2 * x.numpy())
    assert ext.calls == 2
    assert array_sha256(np.zeros((5, 2), np.float32)) != array_sha256(np.zeros((5, 2), np.float64))
    assert array_sha256(np.zeros((5, 2))) != array_sha256(np.zeros((2, 5)))


def test_key_covers_n_seed_extractor_weights_and_options(tmp_path) -> None:
    cache, ext = FeatureCache(tmp_path), CountingExtractor()
    base = cache.key(ext, content="c", n=10, seed=0)
    other = CountingExtractor()
    other.weights_sha256 = "w1"
    renamed = CountingExtractor()
    renamed.name = "other"
    newer = CountingExtractor()
    newer.version = 2
    variants = [
        cache.key(ext, content="d", n=10, seed=0),
        cache.key(ext, content="c", n=11, seed=0),
        cache.key(ext, content="c", n=10, seed=1),
        cache.key(ext, content="c", n=10, seed=0, latent="uniform"),
        cache.key(other, content="c", n=10, seed=0),
        cache.key(renamed, content="c", n=10, seed=0),
        cache.key(newer, content="c", n=10, seed=0),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert cache.key(ext, content="c", n=10, seed=0) == base


def test_source_features_follow_the_file_bytes_not_its_name_or_time(tmp_path) -> None:
    cache, ext = FeatureCache(tmp_path / "cache"), CountingExtractor()
    source = tmp_path / "step-0000010.pt"
    source.write_bytes(b"weights A")
    stamp = source.stat().st_mtime_ns
    draws = []

    def sample(n: int, seed: int) -> np.ndarray:
        draws.append((n, seed))
        return np.full((n, 2), float(source.read_bytes()[-1]))

    first = cache.source_features(source, ext, sample, n=3, seed=5)
    assert cache.source_features(source, ext, sample, n=3, seed=5) is not None and draws == [(3, 5)]
    source.write_bytes(b"weights B")  # same size, same name, same modification time
    os.utime(source, ns=(stamp, stamp))
    second = cache.source_features(source, ext, sample, n=3, seed=5)
    assert draws == [(3, 5), (3, 5)] and not np.array_equal(first, second)
    cache.source_features(source, ext, sample, n=3, seed=6)
    cache.source_features(source, ext, sample, n=3, seed=5, latent="uniform")
    assert len(draws) == 4


def test_unreadable_entry_is_a_miss_and_is_rewritten(tmp_path) -> None:
    cache, ext = FeatureCache(tmp_path), CountingExtractor()
    x = np.ones((3, 2))
    cache.features(x, ext)
    key = cache.key(ext, content=array_sha256(x), n=3, seed=None)
    cache.path(key).write_bytes(b"\x93NUMPY garbage")
    np.testing.assert_array_equal(cache.features(x, ext), 2 * x)
    assert ext.calls == 2 and cache.load(key) is not None


def test_two_processes_writing_the_same_entry_at_once(tmp_path) -> None:
    # Two writers, started together, store the same 2 MB entry 100 times each while this process
    # keeps reading it: every read is a miss or the complete array; the final entry is intact.
    writer = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        import numpy as np
        from gandiag.features.cache import FeatureCache
        cache, root = FeatureCache({str(tmp_path / "cache")!r}), Path({str(tmp_path)!r})
        x = np.arange(250_000, dtype=np.float64)
        (root / f"ready-{{sys.argv[1]}}").touch()
        while not (root / "go").exists():
            time.sleep(0.01)
        for _ in range(100):
            cache.store("k" * 64, x)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(i)]) for i in range(2)]
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert all(p.poll() is None for p in procs), "a writer died before starting"
        time.sleep(0.05)
    (tmp_path / "go").touch()
    cache, expected = FeatureCache(tmp_path / "cache"), np.arange(250_000, dtype=np.float64)
    entry, whole = cache.path("k" * 64), None
    while any(p.poll() is None for p in procs):
        try:
            raw = entry.read_bytes()  # the raw file: a non-atomic writer would show a truncated one
        except FileNotFoundError:
            continue
        whole = whole or len(raw)
        assert len(raw) == whole
        np.testing.assert_array_equal(np.load(io.BytesIO(raw)), expected)
    assert all(p.returncode == 0 for p in procs)
    np.testing.assert_array_equal(cache.load("k" * 64), expected)
    assert not [p for p in cache.path("k" * 64).parent.iterdir() if p.suffix == ".tmp"]


def test_default_location_and_extract_features(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine" / "features"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "gandiag" / "features"
    x = np.random.default_rng(0).standard_normal((6, 2))
    out = extract_features(x, "identity", cache=FeatureCache(tmp_path / "c"))
    np.testing.assert_array_equal(out, x)
    assert len(list((tmp_path / "c").rglob("*.npy"))) == 1
    with pytest.raises(Exception, match="object array"):
        array_sha256(np.array([object()]))


class WidthExtractor(CountingExtractor):
    """CountingExtractor that says how wide its features are."""

    @staticmethod
    def feature_dim(sample_shape):
        return int(np.prod(sample_shape))


@pytest.mark.parametrize("planted", [np.ones((3, 5)), np.full((3, 2), np.nan), np.ones((3, 2), dtype=np.int64),
                                     np.ones(6)])
def test_an_entry_of_the_wrong_width_or_kind_is_never_served(planted, tmp_path) -> None:
    cache, ext = FeatureCache(tmp_path), WidthExtractor()
    x = np.ones((3, 2))
    key = cache.key(ext, content=array_sha256(x), n=3, seed=None)
    cache.path(key).parent.mkdir(parents=True)
    np.save(cache.path(key), planted)
    np.testing.assert_array_equal(cache.features(x, ext), 2 * x)
    assert ext.calls == 1 and cache.load(key).shape == (3, 2)


def test_a_changed_architecture_is_a_miss(tmp_path, tiny_run) -> None:
    """Same checkpoint bytes, edited net code: the per-file key changes (issue 18, item 12)."""
    import importlib.util

    import gandiag
    from gandiag.features.cache import generator_code_sha256

    module_file = tmp_path / "my_nets.py"
    module_file.write_text("import torch\n\ndef make(**kwargs):\n    return torch.nn.Linear(2, 2)\n")
    spec = importlib.util.spec_from_file_location("my_nets_for_cache_test", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gandiag.register_architecture("cache-test-net", module.make)
    ckpt = torch.load(tiny_run / "step-0000004.pt", weights_only=True)
    ckpt["architecture"] = {"name": "cache-test-net", "kwargs": {}}
    source = tmp_path / "step-0000004.pt"
    torch.save(ckpt, source)

    cache, ext = FeatureCache(tmp_path / "cache"), CountingExtractor()
    sample = lambda n, seed: np.full((n, 2), float(seed))  # noqa: E731
    code = generator_code_sha256(source)
    assert code.startswith("cache-test-net:")
    cache.source_features(source, ext, sample, n=3, seed=1)
    cache.source_features(source, ext, sample, n=3, seed=1)
    assert ext.calls == 1
    module_file.write_text(module_file.read_text() + "# edited: another net\n")
    assert generator_code_sha256(source) != code
    cache.source_features(source, ext, sample, n=3, seed=1)
    assert ext.calls == 2


def test_the_cache_keeps_its_size_limit_least_recently_used_first(tmp_path) -> None:
    ext = CountingExtractor()
    cache = FeatureCache(tmp_path, max_bytes=10**9)
    arrays = [np.full((64, 8), float(i)) for i in range(4)]
    for x in arrays:
        cache.features(x, ext)
        time.sleep(0.01)
    size = next(tmp_path.glob("*/*.npy")).stat().st_size
    cache.features(arrays[0], ext)  # a hit: entry 0 becomes the most recently used
    assert ext.calls == 4 and len(list(tmp_path.glob("*/*.npy"))) == 4
    small = FeatureCache(tmp_path, max_bytes=int(2.5 * size))
    small.features(np.full((64, 8), 9.0), ext)  # a fifth entry: the cache must shrink to two entries
    left = {float(np.load(p)[0, 0]) / 2 for p in tmp_path.glob("*/*.npy")}
    assert left == {9.0, 0.0}
