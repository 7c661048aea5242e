"""Feature cache: incremental, verified (corrupt files recomputed), per-spec folders, concurrency."""

import hashlib
import json
import threading

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features import FeatureSpec, extract, extract_cached, feature_names
from defectlab.features import cache as cache_mod

SPEC = FeatureSpec(size=(32, 32), name="cache-test")


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for _ in range(n):
        im = rng.integers(0, 256, (rng.integers(20, 50), rng.integers(20, 50)), dtype=np.uint8)
        out[hashlib.sha256(im.tobytes()).hexdigest()] = im
    return out


class Loader:
    """load_images that records which shas were requested."""

    def __init__(self, store):
        self.store = store
        self.requested = []

    def __call__(self, shas):
        self.requested += shas
        return [self.store[s] for s in shas]


def _expected(store, shas):
    return extract([store[s] for s in shas], SPEC)


def test_incremental_extraction_computes_only_new_images(tmp_path):
    store = _images(30)
    shas = list(store)
    first = Loader(store)
    x = extract_cached(shas[:20], first, SPEC, tmp_path)
    assert sorted(first.requested) == sorted(shas[:20])
    np.testing.assert_array_equal(x, _expected(store, shas[:20]))
    second = Loader(store)
    x = extract_cached(shas, second, SPEC, tmp_path)  # 10 new images
    assert sorted(second.requested) == sorted(shas[20:])
    np.testing.assert_array_equal(x, _expected(store, shas))
    third = Loader(store)
    x = extract_cached(shas[::-1] + shas[:3], third, SPEC, tmp_path)  # order and duplicates
    assert third.requested == []
    np.testing.assert_array_equal(x, _expected(store, shas[::-1] + shas[:3]))
    assert (tmp_path / SPEC.hash / "spec.json").exists()
    assert FeatureSpec.from_json((tmp_path / SPEC.hash / "spec.json").read_text()) == SPEC


def _shard_files(tmp_path, spec=SPEC):
    d = tmp_path / spec.hash
    return sorted(d.glob("shard-*.npy")), sorted(d.glob("shard-*.json"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "manifest", "manifest-truncate",
                                    "delete-npy"])
def test_damaged_cache_files_are_recomputed(tmp_path, damage):
    store = _images(6, seed=1)
    shas = list(store)
    ref = extract_cached(shas, Loader(store), SPEC, tmp_path)
    (npy,), (manifest,) = _shard_files(tmp_path)
    data = npy.read_bytes()
    if damage == "flip":
        npy.write_bytes(data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:])
    elif damage == "truncate":
        npy.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        npy.write_bytes(b"")
    elif damage == "manifest":
        meta = json.loads(manifest.read_text())
        meta["n_features"] += 1
        manifest.write_text(json.dumps(meta))
    elif damage == "manifest-truncate":
        manifest.write_text(manifest.read_text()[:40])
    elif damage == "delete-npy":
        npy.unlink()
    again = Loader(store)
    x = extract_cached(shas, again, SPEC, tmp_path)
    assert sorted(again.requested) == sorted(shas)  # nothing trusted, everything recomputed
    np.testing.assert_array_equal(x, ref)
    # the cache is healthy again
    third = Loader(store)
    extract_cached(shas, third, SPEC, tmp_path)
    assert third.requested == []


def test_other_spec_uses_another_folder(tmp_path):
    store = _images(4, seed=2)
    shas = list(store)
    other = SPEC.replace(size=(40, 40))
    extract_cached(shas, Loader(store), SPEC, tmp_path)
    loader = Loader(store)
    x = extract_cached(shas, loader, other, tmp_path)
    assert sorted(loader.requested) == sorted(shas)
    assert x.shape == (4, len(feature_names(other)))
    assert {p.name for p in tmp_path.iterdir()} == {SPEC.hash, other.hash}
    # the name is not part of the hash: same folder, no recomputation
    renamed = Loader(store)
    extract_cached(shas, renamed, SPEC.replace(name="renamed"), tmp_path)
    assert renamed.requested == []


def test_progress_and_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_STEP", 4)
    monkeypatch.setattr(cache_mod, "_SHARD_ROWS", 4)
    store = _images(10, seed=3)
    calls = []
    loader = Loader(store)
    extract_cached(list(store), loader, SPEC, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    assert len(_shard_files(tmp_path)[0]) == 3
    calls.clear()
    extract_cached(list(store), loader, SPEC, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 0)]


def test_many_shards_are_merged(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_STEP", 1)
    monkeypatch.setattr(cache_mod, "_MAX_SHARDS", 4)
    store = _images(7, seed=4)
    shas = list(store)
    for k in range(1, 8):
        extract_cached(shas[:k], Loader(store), SPEC, tmp_path)
    npys, manifests = _shard_files(tmp_path)
    assert len(npys) == len(manifests) <= 4
    loader = Loader(store)
    x = extract_cached(shas, loader, SPEC, tmp_path)
    assert loader.requested == []
    np.testing.assert_array_equal(x, _expected(store, shas))


def test_concurrent_writers(tmp_path):
    store = _images(12, seed=5)
    shas = list(store)
    results, errors = [], []

    def work(order):
        try:
            results.append(extract_cached(order, Loader(store), SPEC, tmp_path))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(shas if k % 2 else shas[::-1],))
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ref = _expected(store, shas)
    for r in results:
        assert np.array_equal(r, ref) or np.array_equal(r[::-1], ref)
    loader = Loader(store)
    np.testing.assert_array_equal(extract_cached(shas, loader, SPEC, tmp_path), ref)
    assert loader.requested == []
    assert not list((tmp_path / SPEC.hash).glob(".*tmp*"))


def test_never_unpickles(tmp_path, monkeypatch):
    store = _images(2, seed=6)
    extract_cached(list(store), Loader(store), SPEC, tmp_path)
    seen = []
    real = np.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle"))
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_mod.np, "load", spy)
    extract_cached(list(store), Loader(store), SPEC, tmp_path)
    assert all(v is False for v in seen)  # rows are read through a float32 memory map, never np.load


def test_pickled_npy_with_a_matching_manifest_is_refused(tmp_path):
    """An attacker who can write the cache folder publishes an object-dtype .npy (a pickle) with a
    manifest whose checksum matches: it must be deleted and recomputed, never unpickled."""
    store = _images(3, seed=9)
    shas = list(store)
    ref = extract_cached(shas, Loader(store), SPEC, tmp_path)
    (npy,), (manifest,) = _shard_files(tmp_path)
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([object()] * 3, dtype=object).reshape(3, 1), allow_pickle=True)
    data = buf.getvalue()
    npy.write_bytes(data)
    meta = json.loads(manifest.read_text())
    meta.update(npy_bytes=len(data), npy_sha256=hashlib.sha256(data).hexdigest())
    manifest.write_text(json.dumps(meta))
    loader = Loader(store)
    np.testing.assert_array_equal(extract_cached(shas, loader, SPEC, tmp_path), ref)
    assert sorted(loader.requested) == sorted(shas)
    assert not npy.exists()


def test_results_identical_for_one_and_two_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_STEP", 5)
    store = _images(23, seed=10)
    shas = list(store)
    one = extract_cached(shas, Loader(store), SPEC, tmp_path / "a", n_jobs=1)
    two = extract_cached(shas, Loader(store), SPEC, tmp_path / "b", n_jobs=2)
    assert one.tobytes() == two.tobytes()
    np.testing.assert_array_equal(one, _expected(store, shas))


def test_lookup_reads_only_the_shards_it_needs_and_verifies_once(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_STEP", 4)
    monkeypatch.setattr(cache_mod, "_SHARD_ROWS", 4)
    store = _images(16, seed=11)
    shas = list(store)
    extract_cached(shas, Loader(store), SPEC, tmp_path)
    assert len(_shard_files(tmp_path)[0]) == 4
    checks, reads = [], []
    real_matches, real_read = cache_mod._Shard._matches, cache_mod._Shard.read_rows
    monkeypatch.setattr(cache_mod._Shard, "_matches", lambda self, fh: checks.append(self) or real_matches(self, fh))
    monkeypatch.setattr(cache_mod._Shard, "read_rows",
                        lambda self, rows: reads.append(len(rows)) or real_read(self, rows))
    x = extract_cached([shas[5]], lambda s: 1 / 0, SPEC, tmp_path)
    np.testing.assert_array_equal(x, _expected(store, [shas[5]]))
    assert reads == [1] and len(checks) <= 1  # one shard touched, one row read
    extract_cached([shas[5], shas[6]], lambda s: 1 / 0, SPEC, tmp_path)
    assert len(checks) <= 1  # the same file version is not re-hashed within a process
    extract_cached(shas, lambda s: 1 / 0, SPEC, tmp_path)
    assert len(checks) <= 4


def test_a_large_extraction_writes_bounded_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_STEP", 3)
    monkeypatch.setattr(cache_mod, "_SHARD_ROWS", 7)
    store = _images(17, seed=12)
    extract_cached(list(store), Loader(store), SPEC, tmp_path, n_jobs=2)
    rows = sorted(json.loads(m.read_text())["rows"] for m in _shard_files(tmp_path)[1])
    assert rows == [3, 7, 7]


@pytest.mark.parametrize("shas, match", [("abc", "list of sha256"), (["xyz"], "64-character"),
                                         ([1], "64-character")])
def test_bad_shas(tmp_path, shas, match):
    with pytest.raises(InputError, match=match):
        extract_cached(shas, lambda s: [], SPEC, tmp_path)


def test_unusable_image_names_its_sha(tmp_path):
    store = _images(3, seed=8)
    shas = list(store)
    store[shas[1]] = np.zeros((0, 5), np.uint8)
    with pytest.raises(InputError, match=f"sha {shas[1]} returned by load_images.*is empty"):
        extract_cached(shas, Loader(store), SPEC, tmp_path)


def test_loader_must_return_one_image_per_sha(tmp_path):
    store = _images(3, seed=7)
    with pytest.raises(InputError, match="returned 2 images for 3 shas"):
        extract_cached(list(store), lambda s: [store[x] for x in s][:2], SPEC, tmp_path)
    with pytest.raises(InputError, match="must be a function"):
        extract_cached(list(store), None, SPEC, tmp_path)
