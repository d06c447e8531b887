"""The synthetic set's cast: the identities its subjects' faces are chosen from (issue #11).

    python -m merkit.data.synthetic_cast [--write] [--pool-scale 1.0] [--jobs 2]

All faces of the embedded set are edits of two licence-free photos (:mod:`merkit.data.
_face_model`), so two subjects are easily alike to dlib's face recognizer.  Drawing a dozen
random identities per subject and choosing among them at generation left 11 % of the
CASME-like / SAMM-like subject pairs closer than dlib's 0.6 tolerance (generator v6).  The cast
moves the search offline, where it can afford a large pool:

1. **Pool.**  For each data set, :data:`DEFAULT_POOL` identities (keys ``0..n-1`` of the data
   set's identity stream, :func:`merkit.data.synthetic._candidate`), each rendered on one
   canonical frame (the onset frame of the data set's first clip of the full plan, seed 0, as
   written: placement 0, its noise, its JPEG) and encoded by dlib's ResNet; those the HOG
   detector misses there are dropped.
2. **Shortlist.**  :data:`MULTIPLE` times as many members as the data set has subjects at full
   scale, chosen by :func:`merkit.data.synthetic.select_distinct` so that as many member pairs
   as it can find lie at least 0.6 apart (CASME-like and SAMM-like together, then the
   SMIC-like members with those fixed).
3. **At generation** each subject is offered a few members (``SyntheticConfig.
   identity_candidates``), encodes them on its own first onset frame and the choice is made
   there (:func:`merkit.data.synthetic._choose_identities`): the same identity encodes up to
   about 0.3 apart on two clips' frames (median 0.07), so a cast chosen on one frame alone
   would not hold on the subjects' frames.

The shortlist is written to :data:`merkit.data.synthetic.CAST_FILE` (``--write``) with the
face model version it was searched on and a spot check (the first member's canonical
encoding per data set, which ``tests/test_synthetic.py`` re-encodes): a changed face model
makes the file stale, and generation then refuses it with a message saying to run this.
The pool's encodings are cached per chunk under ``paths.cache_dir()/synthetic_cast`` (keyed
by the face model, the configuration and the canonical frame), so an interrupted search
resumes where it stopped; the full search took 16.5 min on 2 cores (7,900 encodings).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from merkit import paths
from merkit.data import _face_model as fm
from merkit.data import registry, synthetic
from merkit.io import read_json, stable_hash, to_json, write_json

#: Pool size per data set (identities encoded on its canonical frame).
DEFAULT_POOL: dict[str, int] = {"casme2": 3600, "samm": 3600, "smic": 700}
#: Shortlist size as a multiple of the data set's full-scale subjects.
MULTIPLE = 2
#: Pool keys encoded per worker task (and cached per file).
CHUNK = 50


def canonical_row(dataset: str, config: synthetic.SyntheticConfig) -> dict[str, Any]:
    """The clip whose onset frame every pool identity of ``dataset`` is encoded on."""
    for row in synthetic.plan("full", 0, config).to_dict("records"):
        if row["dataset"] == dataset:
            return row
    raise ValueError(f"no synthetic data set {dataset!r}")


def _chunk_path(cache: Path, dataset: str, start: int, key: str) -> Path:
    return cache / key / f"{dataset}-{start:06d}.json"


def pool_encodings(pool: dict[str, int], config: synthetic.SyntheticConfig, *, n_jobs: int = 2,
                   cache: Path | None = None, progress: bool = False
                   ) -> dict[str, list[list[float] | None]]:
    """dlib encodings of keys ``0..pool[d]-1`` of each data set ``d`` on its canonical frame
    (None where the HOG detector misses the face), cached per :data:`CHUNK` keys."""
    rows = {name: canonical_row(name, config) for name in pool}
    key = stable_hash({"face_model": fm.FACE_MODEL_VERSION, "config": config.key(),
                       "rows": {n: [r["subject"], r["clip"]] for n, r in rows.items()}})
    tasks = [(name, start, list(range(start, min(n, start + CHUNK))))
             for name, n in pool.items() for start in range(0, n, CHUNK)]
    done: dict[tuple[str, int], list[list[float] | None]] = {}
    todo = []
    for name, start, keys in tasks:
        path = _chunk_path(cache, name, start, key) if cache is not None else None
        if path is not None and path.exists():
            cached = read_json(path)
            if cached.get("keys") == keys:
                done[(name, start)] = cached["encodings"]
                continue
        todo.append((name, start, keys))
    if progress:
        print(f"  {len(tasks) - len(todo)} of {len(tasks)} chunks cached", file=sys.stderr)
    from joblib import Parallel, delayed

    encode = synthetic._worker("_identity_encodings")
    results = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator",
                       verbose=5 if progress else 0)(
        delayed(encode)(rows[name], 0, config, keys) for name, _, keys in todo)
    for (name, start, keys), encodings in zip(todo, results, strict=True):
        done[(name, start)] = encodings
        if cache is not None:  # as each chunk finishes: an interrupted search resumes
            write_json(_chunk_path(cache, name, start, key), {"keys": keys, "encodings": encodings})
    out: dict[str, list[list[float] | None]] = {name: [] for name in pool}
    for name, start, _ in tasks:  # each data set's chunks, in key order
        out[name].extend(done[(name, start)])
    return out


def shortlist(encodings: dict[str, Sequence[Sequence[float] | None]], sizes: dict[str, int],
              distance: float) -> dict[str, list[int]]:
    """``sizes[d]`` pool keys per data set, as many pairs at least ``distance`` apart as
    :func:`~merkit.data.synthetic.select_distinct` finds, stage by stage
    (:attr:`~merkit.data.synthetic.SyntheticSpec.identity_stage`)."""
    from scipy.spatial.distance import cdist

    vectors, labels, owner = [], [], []
    for name, encs in encodings.items():
        for k, enc in enumerate(encs):
            if enc is not None:
                vectors.append(enc)
                labels.append((name, k))
                owner.append(name)
    owner_arr = np.asarray(owner)
    matrix = np.asarray(vectors)
    dist = cdist(matrix, matrix)
    pools = {name: np.flatnonzero(owner_arr == name) for name in encodings}
    for name, size in sizes.items():
        if len(pools[name]) < size:
            raise ValueError(f"{name}: {len(pools[name])} detectable pool identities, need {size}")
    slots = [n for n in encodings for _ in range(sizes[n])]
    stages = [registry.get_dataset(n).synthetic_generator().identity_stage for n in slots]
    picks = synthetic.select_distinct(dist, [pools[n] for n in slots], labels, distance, stages)
    out: dict[str, list[int]] = {name: [] for name in encodings}
    for p in picks:
        out[labels[p][0]].append(labels[p][1])
    return out


def pairs_distinct(encodings: dict[str, Sequence[Sequence[float] | None]],
                   members: dict[str, list[int]], names: Iterable[str], distance: float) -> float:
    """Share of member pairs of data sets ``names`` at least ``distance`` apart (canonical)."""
    vectors = np.asarray([encodings[n][k] for n in names for k in members[n]])
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    upper = np.triu_indices(len(vectors), 1)
    return float((d[upper] >= distance).mean())


def search(pool: dict[str, int] | None = None, config: synthetic.SyntheticConfig | None = None,
           *, n_jobs: int = 2, cache: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """The cast file's content: pool, shortlist (:data:`MULTIPLE` x full-scale subjects per
    data set), its canonical distinctness and the spot-check encodings."""
    config = config or synthetic.SyntheticConfig()
    pool = dict(pool or DEFAULT_POOL)
    counts = synthetic.plan("full", 0, config).groupby("dataset")["subject"].nunique()
    sizes = {name: MULTIPLE * int(counts[name]) for name in pool}
    encodings = pool_encodings(pool, config, n_jobs=n_jobs, cache=cache, progress=progress)
    members = shortlist(encodings, sizes, config.identity_distance)
    first = {name: canonical_row(name, config) for name in pool}
    big = [n for n in pool if n != "smic"]
    return {
        "about": "the synthetic set's cast: written by `python -m merkit.data.synthetic_cast "
                 "--write`; see that module",
        "face_model": fm.FACE_MODEL_VERSION,
        "distance": config.identity_distance,
        "pool": pool,
        "detected": {n: sum(e is not None for e in encodings[n]) for n in pool},
        "canonical_frame": {n: f"{r['subject']}/{r['clip']} onset" for n, r in first.items()},
        "members": members,
        "canonical_pairs_distinct": {
            "+".join(big): round(pairs_distinct(encodings, members, big, config.identity_distance), 4),
            "all": round(pairs_distinct(encodings, members, list(pool), config.identity_distance), 4)},
        "spot_check": {n: {"key": members[n][0],
                           "encoding": [round(float(v), 6) for v in encodings[n][members[n][0]]]}
                       for n in pool},
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m merkit.data.synthetic_cast",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true",
                        help=f"write the cast to {synthetic.CAST_FILE.name} (default: print it)")
    parser.add_argument("--pool-scale", type=float, default=1.0,
                        help="multiply the default pool sizes (smaller: faster, less distinct)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(list(argv) if argv is not None else None)
    pool = {n: max(1, int(round(v * args.pool_scale))) for n, v in DEFAULT_POOL.items()}
    start = time.perf_counter()
    cast = search(pool, n_jobs=args.jobs, cache=paths.cache_dir() / "synthetic_cast",
                  progress=True)
    print(f"searched in {time.perf_counter() - start:.0f} s; canonical pairs beyond "
          f"{cast['distance']}: {cast['canonical_pairs_distinct']}")
    if args.write:
        write_json(synthetic.CAST_FILE, cast)
        synthetic._cast.cache_clear()
        print(f"wrote {synthetic.CAST_FILE}")
    else:
        print(to_json({k: cast[k] for k in ("pool", "detected", "members")}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
