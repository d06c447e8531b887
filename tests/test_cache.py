"""Cache keys, fingerprints, checksummed atomic entries and corruption detection."""

from __future__ import annotations

import dataclasses
import os
import shutil
import zipfile

import numpy as np
import pytest

from merkit.preprocess import cache
from merkit.preprocess.flow import FlowConfig


def test_cache_key_identity_and_sensitivity():
    prints = ["a" * 64, "b" * 64]
    key = cache.cache_key("flow", FlowConfig(), prints, extra={"pairs": [[5, 0.0, True]]})
    # equal inputs built independently give the same key (writer == reader)
    assert key == cache.cache_key(
        "flow", FlowConfig(), list(prints), extra={"pairs": [[5, 0.0, True]]}
    )
    variants = [
        cache.cache_key(
            "flow",
            dataclasses.replace(FlowConfig(), lambda_=0.1),
            prints,
            extra={"pairs": [[5, 0.0, True]]},
        ),
        cache.cache_key("flow", FlowConfig(), prints[::-1], extra={"pairs": [[5, 0.0, True]]}),
        cache.cache_key("flow", FlowConfig(), prints[:1], extra={"pairs": [[5, 0.0, True]]}),
        cache.cache_key("flow", FlowConfig(), prints, extra={"pairs": [[6, 0.0, True]]}),
        cache.cache_key(
            "flow", FlowConfig(), prints, extra={"pairs": [[5, 0.0, True]]}, version=99
        ),
        cache.cache_key("face", FlowConfig(), prints, extra={"pairs": [[5, 0.0, True]]}),
    ]
    assert len({key, *variants}) == len(variants) + 1
    with pytest.raises(KeyError):
        cache.cache_key("nope", {}, [])


def test_frame_fingerprints_follow_bytes_not_path_or_mtime(tmp_path):
    a = tmp_path / "a.jpg"
    a.write_bytes(b"\xff\xd8 some jpeg bytes")
    before = cache.frame_fingerprints([a])
    os.utime(a, (1, 1))  # touch
    b = tmp_path / "moved" / "b.jpg"
    b.parent.mkdir()
    shutil.copy(a, b)
    assert cache.frame_fingerprints([a]) == before == cache.frame_fingerprints([b])
    a.write_bytes(b"\xff\xd8 some jpeg bytez")
    assert cache.frame_fingerprints([a]) != before
    with pytest.raises(FileNotFoundError, match="clipX: frame file .*missing.jpg"):
        cache.frame_fingerprints([tmp_path / "missing.jpg"], name="clipX")


def test_entry_path_is_safe(tmp_path):
    p = cache.entry_path("flows", ["casme2", "sub 01", "EP02/01f"], "k" * 24, ".npz", tmp_path)
    assert p == tmp_path / "flows" / "casme2" / "sub_01" / f"EP02_01f-{'k' * 24}.npz"


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=(3, 2, 4, 4)).astype(np.float32),
        "n": np.arange(3, dtype=np.int64),
    }


def test_arrays_round_trip_atomic(tmp_path):
    path = tmp_path / "e" / "entry.npz"
    cache.save_arrays(path, _arrays(), {"name": "c", "v": [1, 2]})
    arrays, meta = cache.read_arrays(
        path, {"x": ((None, 2, 4, 4), np.float32), "n": ((3,), np.int64)}
    )
    np.testing.assert_array_equal(arrays["x"], _arrays()["x"])
    assert meta == {"name": "c", "v": [1, 2]}
    assert [f.name for f in path.parent.iterdir()] == ["entry.npz"]  # no temp files left


def test_truncated_entry_is_detected_and_missed(tmp_path):
    path = tmp_path / "entry.npz"
    cache.save_arrays(path, _arrays(), {})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(cache.CacheCorrupted):
        cache.read_arrays(path)
    with pytest.warns(cache.CacheCorruptedWarning):
        assert cache.load_arrays(path) is None


def test_wrong_shape_or_dtype_is_detected(tmp_path):
    path = tmp_path / "entry.npz"
    cache.save_arrays(path, _arrays(), {})
    with pytest.raises(cache.CacheCorrupted, match="'x'"):
        cache.read_arrays(path, {"x": ((3, 2, 8, 8), np.float32)})
    with pytest.raises(cache.CacheCorrupted, match="'x'"):
        cache.read_arrays(path, {"x": ((3, 2, 4, 4), np.float64)})
    with pytest.raises(cache.CacheCorrupted, match="missing"):
        cache.read_arrays(path, {"y": ((3,), np.int64)})


def test_checksum_mismatch_is_detected(tmp_path):
    path = tmp_path / "entry.npz"
    cache.save_arrays(path, _arrays(), {"a": 1})
    # rewrite one member with other values but keep the stored checksum and metadata
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    members["x"] = members["x"] + 1
    np.savez_compressed(path, **members)
    assert zipfile.is_zipfile(path)
    with pytest.raises(cache.CacheCorrupted, match="checksum"):
        cache.read_arrays(path)


def test_missing_entry_is_a_plain_miss(tmp_path):
    assert cache.load_arrays(tmp_path / "none.npz") is None
    assert cache.load_json(tmp_path / "none.json") is None


def test_json_round_trip_and_tamper(tmp_path):
    path = tmp_path / "face.json"
    obj = {"box": [1, 2, 3, 4], "score": float("nan"), "landmarks": {"3": [[1.5, 2.25]]}}
    cache.save_json(path, obj)
    back = cache.read_json(path)
    assert back["box"] == [1, 2, 3, 4] and back["landmarks"] == {"3": [[1.5, 2.25]]}
    path.write_text(path.read_text().replace("2.25", "2.5"))
    with pytest.raises(cache.CacheCorrupted, match="checksum"):
        cache.read_json(path)
    path.write_text('{"sha256": "x", "data": ')
    with pytest.warns(cache.CacheCorruptedWarning):
        assert cache.load_json(path) is None


def test_reserved_names(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        cache.save_arrays(tmp_path / "e.npz", {"__meta__": np.zeros(1)})
