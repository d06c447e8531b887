"""Clip-level preprocessing: face -> (occlusion) -> rotation -> crop -> TV-L1 -> resize, cached.

The experiments call :func:`build_flowset` once per (data set, occlusion condition): training
clips get the augmented pairs (10 apex positions x 7 angles in the paper profile), the other clips
only their original (onset, apex, 0 degree) pair. Each clip is one cache entry
(:func:`clip_flows`); clips run in parallel (:func:`build_flowset`: joblib threads with one
OpenCV thread each by default), a killed run resumes, a finished one is a cache hit, and a
corrupted entry is recomputed. Two stages, two entries per clip::

    <cache>/face/<dataset>/<subject>/<clip>-<key>.json   box, detector box, fallback, landmarks
    <cache>/flows/<dataset>/<subject>/<clip>-<key>.npz   x (P, 2, S, S) float32, apex_frame (P,),
                                                         angle (P,), is_original (P,) + metadata

The face key hashes (FaceConfig, the bytes of every frame the stage reads, the used frame
numbers); the flow key hashes (FlowConfig, the rotation mode, the pair list, the occlusion spec's
``key``, the face key). Both carry their stage version (:data:`cache.STAGE_VERSIONS`).

Frames are RGB ``uint8 (H, W, 3)`` (:func:`merkit.preprocess.frames.read_frame`; grayscale files
are replicated to 3 channels) and become gray with :func:`merkit.preprocess.frames.to_gray`, as
the handcrafted volumes do. Landmarks are predicted on the **un-occluded** frames (an occlusion
is synthesised from them, as in RRRN Sec. IV-A2) and the occlusion spec is applied to every used
frame, with that frame's landmarks, before rotation, cropping and flow.

The flows start from :attr:`ClipFace.flow_onset`: the onset frame, or, when it has no face, the
first frame that has one (``FaceConfig.unusable_onset="advance"``, recorded as fallback
``"neighbour"`` and listed by :meth:`FlowSet.fallback_table`; ``"error"`` raises instead).

Only finite flows are served: a computed flow with a NaN/inf value is a :class:`FlowError`
naming the clip and the frame numbers; a cache entry holding one (even with a valid checksum)
warns (:class:`cache.CacheCorruptedWarning`) and is recomputed. Worker processes
(``backend="processes"``) exit with their parent (:func:`merkit.io.die_with_parent`), and the
temporary files a killed writer left in the cache are removed when a build starts
(:func:`cache.clean_stale`).

Parallelism (profiled with py-spy at the paper's 224-px crops on 2 cores; ``python -m
merkit.bench flow`` times it): TV-L1 is ~80 % of a cold build's CPU samples with worker
processes and OpenCV releases the GIL around it (dlib around its detector too), so the clips
run in **threads** of this process by default. That removes the largest overhead, the worker
start-up: each loky worker spent ~1.5-2 s CPU importing merkit and cv2 (and pandas) and
building dlib's HOG detector and 68-point predictor, ~12 % of a 224-px build at 2 workers. The
models are loaded once per process and shared (the detectors through
:class:`merkit.preprocess.face._DetectorPool`, since dlib's detectors are not thread-safe).
OpenCV runs with one thread per worker during a parallel build (2 workers on 2 cores: no
oversubscription; the flows are bit for bit those of the worker processes), and the clips go
out one per task, largest first, so clips of unequal cost finish together.

On a Slurm cluster (``build_flowset(..., slurm=SlurmConfig(...))``, which
:mod:`merkit.reproduce.tables` passes when ``ExecutionConfig.executor == "slurm"``) the missing
clips go out in batches of ``SlurmConfig.clips_per_task`` (largest first, dealt round-robin so
the batches cost alike) as the tasks of one job array (:func:`merkit.cluster.run_array`): each
task re-checks the cache, computes its clips in ``cpus_per_task`` threads and writes their
entries; this process then loads every clip from the cache as for a warm build. A batch that
failed on every attempt is a :class:`merkit.cluster.ArrayIncomplete` naming its clips, job ids
and logs (the clips that finished stay cached).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from merkit import cluster
from merkit.io import die_with_parent
from merkit.preprocess import cache
from merkit.preprocess.augment import AugmentConfig, augment_pairs
from merkit.preprocess.face import ClipFace, FaceConfig, detection_frames, locate_clip_face
from merkit.preprocess.flow import FlowConfig, FlowError, pair_flow
from merkit.preprocess.frames import FrameError, read_frame, to_gray


class AnnotationError(ValueError):
    """A DataFrame row is inconsistent (apex outside onset..offset, wrong frame count)."""


@runtime_checkable
class OcclusionLike(Protocol):
    """What :func:`clip_flows` accepts as ``occlusion``; :class:`merkit.preprocess.occlusion.
    OcclusionSpec` is the intended implementation.

    ``key``: a short string naming the condition and its seed (e.g. ``"block-0.25-s3"``); it is
    part of the cache key, so two specs with the same key must produce the same frames.
    ``__call__(frame (H, W, 3) uint8 RGB, landmarks (68, 2) float (x, y), *, clip: str)`` returns
    the occluded frame (same shape and dtype), or a tuple whose first item is that frame. The
    pipeline passes the clip's name (``"casme2/sub01/EP02_01f"``) as ``clip``, so every frame of
    a clip gets the same occluder and different clips different ones.
    A spec with ``kind == "none"`` (the un-occluded condition) is treated as ``None``: the
    un-occluded flows are computed and cached once, whoever asks for them.
    """

    key: str

    def __call__(self, frame: np.ndarray, landmarks: np.ndarray, *, clip: str) -> Any: ...


def _active(occlusion: Any) -> Any:
    """``None`` for no occlusion or an identity spec (``kind == "none"``), else the spec."""
    if occlusion is None or getattr(occlusion, "kind", None) == "none":
        return None
    if not isinstance(getattr(occlusion, "key", None), str) or not callable(occlusion):
        raise TypeError(
            f"occlusion must be callable with a str .key (see OcclusionLike), got {occlusion!r}"
        )
    return occlusion


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that determines the flows, plus the worker count (not part of any key)."""

    face: FaceConfig = field(default_factory=FaceConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    n_jobs: int = 2


QUICK_TVL1: Mapping[str, int] = MappingProxyType({"nscales": 5, "warps": 1, "outer_iterations": 1})
"""TV-L1 settings of the quick and smoke profiles: one warp and one outer iteration (30 inner
iterations) per pyramid level. About 4x cheaper than OpenCV's defaults (5 warps x 10 outer) and,
for micro-expression-sized motions (< 2 % of the face), as accurate: on a face crop with a
synthetic local brow/mouth motion the mean end-point error in the moving regions was 0.22 % vs
0.24 % of the crop width at 64 px (``python -m merkit.bench flow`` prints the costs)."""


# --- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipInput:
    """The parts of a DataFrame row preprocessing needs (picklable; sent to the workers)."""

    position: int
    dataset: str
    subject: str
    clip: str
    onset: int
    apex: int
    offset: int
    frames: tuple[Path, ...]

    @property
    def name(self) -> str:
        """``"<subject>/<clip>"``, e.g. ``"casme2/sub01/EP02_01f"`` (subjects carry the data set)."""
        return f"{self.subject}/{self.clip}"

    def frame_path(self, number: int) -> Path:
        return self.frames[number - self.onset]


def _field(row: Any, name: str) -> Any:
    try:
        return row[name]
    except (KeyError, TypeError, IndexError):
        return getattr(row, name)


def clip_input(row: Any, position: int = -1) -> ClipInput:
    """Validate one DataFrame row (Series, mapping or namedtuple) -> :class:`ClipInput`.

    Raises :class:`AnnotationError` naming the row when apex is outside onset..offset or the
    frame list does not have ``offset - onset + 1`` files.
    """
    try:
        values = {
            k: _field(row, k)
            for k in ("dataset", "subject", "clip", "onset", "apex", "offset", "frames")
        }
    except AttributeError as err:
        raise AnnotationError(f"row {position}: missing column ({err})") from None
    onset, apex, offset = int(values["onset"]), int(values["apex"]), int(values["offset"])
    where = f"row {position} ({values['subject']}/{values['clip']}, onset={onset}, apex={apex}, offset={offset})"
    if not onset <= apex <= offset:
        raise AnnotationError(f"{where}: apex is outside onset..offset; fix the annotation")
    frames = tuple(Path(f) for f in values["frames"])
    if len(frames) != offset - onset + 1:
        raise AnnotationError(
            f"{where}: {len(frames)} frame files, expected offset - onset + 1 = {offset - onset + 1}"
        )
    return ClipInput(
        position=position,
        dataset=str(values["dataset"]),
        subject=str(values["subject"]),
        clip=str(values["clip"]),
        onset=onset,
        apex=apex,
        offset=offset,
        frames=frames,
    )


# --- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipPlan:
    """What one clip needs: its pairs, the frames read, and both cache keys."""

    item: ClipInput
    pairs: tuple[tuple[int, float, bool], ...]
    used_frames: tuple[int, ...]
    face_key: str
    flow_key: str
    occlusion: str | None

    def face_path(self, root: Path | None) -> Path:
        return cache.entry_path("face", self.item.name.split("/"), self.face_key, ".json", root)

    def flow_path(self, root: Path | None) -> Path:
        return cache.entry_path("flows", self.item.name.split("/"), self.flow_key, ".npz", root)


def plan_clip(
    item: ClipInput, cfg: PreprocessConfig, *, augment: bool, occlusion: Any = None
) -> ClipPlan:
    """Pairs, used frames and the two keys of a clip; the single key builder for write and read."""
    occlusion = _active(occlusion)
    pairs = tuple(augment_pairs(item.onset, item.apex, item.offset, cfg.augment, augment=augment))
    used = tuple(sorted({item.onset, *(p for p, _, _ in pairs)}))
    read = sorted(set(detection_frames(item.onset, item.offset, cfg.face)) | set(used))
    try:
        prints = cache.frame_fingerprints([item.frame_path(f) for f in read], name=item.name)
    except FileNotFoundError as err:
        raise FrameError(f"{err}; check the data set's layout") from None
    face_key = cache.cache_key("face", cfg.face, prints, extra={"read": read, "used": list(used)})
    occ_key = None if occlusion is None else str(occlusion.key)
    flow_key = cache.cache_key(
        "flow",
        {"flow": cfg.flow, "rotate_on": cfg.augment.rotate_on},
        [face_key],
        extra={"pairs": [list(p) for p in pairs], "occlusion": occ_key},
    )
    return ClipPlan(item, pairs, used, face_key, flow_key, occ_key)


# --- one clip ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClipFlows:
    """All flow samples of one clip.

    ``x``: (P, 2, S, S) float32, channel 0 = u (horizontal), 1 = v (vertical), S = out_size.
    ``apex_frame``: (P,) int64; ``angle``: (P,) float32 degrees; ``is_original``: (P,) bool (one
    True: the onset->apex, 0 degree pair). ``face``: box, fallback and landmarks.
    ``timings``: CPU seconds per stage when the entry was computed: ``face`` (reading the frames
    it needs, detection, landmarks), ``frames`` (reading the rest, occlusion, grayscale), ``flow``
    (rotation, crop, TV-L1, resizing). ``from_cache``: loaded rather than computed in this call.
    """

    name: str
    x: np.ndarray
    apex_frame: np.ndarray
    angle: np.ndarray
    is_original: np.ndarray
    face: ClipFace
    occlusion: str | None
    key: str
    timings: Mapping[str, float]
    from_cache: bool

    @property
    def fallback(self) -> str:
        return self.face.fallback


def _expected(n: int | None, size: int) -> dict[str, tuple[tuple[int | None, ...], Any]]:
    return {
        "x": ((n, 2, size, size), np.float32),
        "apex_frame": ((n,), np.int64),
        "angle": ((n,), np.float32),
        "is_original": ((n,), np.bool_),
    }


def _load(plan: ClipPlan, cfg: PreprocessConfig, root: Path | None) -> ClipFlows | None:
    path = plan.flow_path(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cache.CacheCorruptedWarning)
        got = cache.load_arrays(path, _expected(len(plan.pairs), cfg.flow.out_size))
    for w in caught:
        warnings.warn(f"{plan.item.name}: {w.message}", cache.CacheCorruptedWarning, stacklevel=3)
    if got is None:
        return None
    arrays, meta = got
    bad = int(np.size(arrays["x"]) - np.count_nonzero(np.isfinite(arrays["x"])))
    if bad:
        warnings.warn(
            f"{plan.item.name}: cache entry {path} holds {bad} non-finite flow values (NaN/inf); "
            "recomputing",
            cache.CacheCorruptedWarning,
            stacklevel=2,
        )
        return None
    try:
        face = ClipFace.from_json(meta["face"])
        stored = [(int(a), float(b), bool(c)) for a, b, c in meta["pairs"]]
        if stored != list(plan.pairs) or meta["key"] != plan.flow_key:
            raise ValueError("pairs/key differ from the plan")
    except (KeyError, TypeError, ValueError) as err:
        warnings.warn(
            f"{plan.item.name}: corrupted cache entry {path}, recomputing ({err})",
            cache.CacheCorruptedWarning,
            stacklevel=2,
        )
        return None
    return ClipFlows(
        name=plan.item.name,
        x=arrays["x"],
        apex_frame=arrays["apex_frame"],
        angle=arrays["angle"],
        is_original=arrays["is_original"],
        face=face,
        occlusion=plan.occlusion,
        key=plan.flow_key,
        timings=dict(meta.get("timings", {})),
        from_cache=True,
    )


def _clip_face(
    plan: ClipPlan, cfg: PreprocessConfig, root: Path | None, read, use_cache: bool
) -> ClipFace:
    path = plan.face_path(root)
    if use_cache:
        obj = cache.load_json(path)
        if obj is not None:
            try:
                face = ClipFace.from_json(obj)
                if set(face.landmarks) >= {*plan.used_frames, face.flow_onset}:
                    return face
            except (KeyError, TypeError, ValueError) as err:
                warnings.warn(
                    f"{plan.item.name}: corrupted face cache {path}, recomputing ({err})",
                    cache.CacheCorruptedWarning,
                    stacklevel=2,
                )
    item = plan.item
    face = locate_clip_face(
        read, item.onset, item.offset, plan.used_frames, cfg.face, name=item.name
    )
    if use_cache:
        cache.save_json(path, face.to_json())
    return face


def compute_clip(
    plan: ClipPlan,
    cfg: PreprocessConfig,
    occlusion: Any = None,
    *,
    root: Path | None = None,
    use_cache: bool = True,
    clock: Callable[[], float] = time.process_time,
) -> ClipFlows:
    """Compute (never load) a clip's flows and write its cache entries. See :func:`clip_flows`.

    ``clock``: the CPU clock of the stage timings: ``time.process_time`` (this process, OpenCV's
    threads included) or, in a worker thread of a parallel build, ``time.thread_time``."""
    occlusion = _active(occlusion)
    item = plan.item
    # CPU seconds per stage; a few clock reads per clip (CPU clocks are slow on some VMs)
    timings = {"face": 0.0, "frames": 0.0, "flow": 0.0}
    frames: dict[int, np.ndarray] = {}

    def read(number: int) -> np.ndarray:
        if number not in frames:
            frames[number] = read_frame(item.frame_path(number), name=item.name)
        return frames[number]

    t = clock()
    face = _clip_face(plan, cfg, root, read, use_cache)
    timings["face"] = clock() - t

    t = clock()
    start = face.flow_onset  # the onset, or the first frame with a face (see the docstring)
    original_apex = next(a for a, _, o in plan.pairs if o)
    if start >= original_apex and start != item.onset:
        raise FlowError(
            f"{item.name} (row {item.position}): no face on frames {item.onset}..{start - 1}, and "
            f"the first frame with a face ({start}) is not before the apex {original_apex}; the "
            "clip has no usable onset. Fix its onset or drop it"
        )
    gray: dict[int, np.ndarray] = {}
    for number in sorted({*plan.used_frames, start}):
        rgb = read(number)
        if occlusion is not None:
            out = occlusion(rgb.copy(), face.landmarks[number], clip=item.name)
            rgb = out[0] if isinstance(out, tuple) else out
            if rgb.shape[:2] != face.frame_shape:
                raise ValueError(f"{item.name}: occlusion {plan.occlusion} changed the frame shape")
        gray[number] = to_gray(rgb)
    frames.clear()
    timings["frames"] = clock() - t

    t = clock()
    computed: dict[tuple[int, float], np.ndarray] = {}
    samples = []
    for apex, angle, _ in plan.pairs:
        if (apex, angle) not in computed:  # repeated positions on short clips: compute once
            what = f"{item.name} (row {item.position}): flow onset {start} -> frame {apex} at {angle:g} deg"
            try:
                computed[(apex, angle)] = pair_flow(
                    gray[start],
                    gray[apex],
                    face.box,
                    cfg.flow,
                    angle=angle,
                    rotate_on=cfg.augment.rotate_on,  # type: ignore[arg-type]
                    what=what,
                )
            except FlowError as err:
                msg = str(err) if item.name in str(err) else f"{what}: {err}"
                raise FlowError(msg) from None
            flow = computed[(apex, angle)]
            bad = int(np.size(flow) - np.count_nonzero(np.isfinite(flow)))
            if bad:
                raise FlowError(
                    f"{what}: the flow has {bad} non-finite values (NaN/inf); check frames "
                    f"{start} and {apex} ({item.frame_path(start).name}, "
                    f"{item.frame_path(apex).name})"
                )
        samples.append(computed[(apex, angle)])
    timings["flow"] = clock() - t

    result = ClipFlows(
        name=item.name,
        x=np.stack(samples).astype(np.float32),
        apex_frame=np.array([p for p, _, _ in plan.pairs], dtype=np.int64),
        angle=np.array([a for _, a, _ in plan.pairs], dtype=np.float32),
        is_original=np.array([o for _, _, o in plan.pairs], dtype=np.bool_),
        face=face,
        occlusion=plan.occlusion,
        key=plan.flow_key,
        timings=timings,
        from_cache=False,
    )
    if use_cache:
        meta = {
            "name": item.name,
            "key": plan.flow_key,
            "pairs": [list(p) for p in plan.pairs],
            "face": face.to_json(),
            "flow_onset": start,
            "occlusion": plan.occlusion,
            "timings": timings,
        }
        arrays = {k: getattr(result, k) for k in ("x", "apex_frame", "angle", "is_original")}
        cache.save_arrays(plan.flow_path(root), arrays, meta)
    return result


def clip_flows(
    row: Any,
    cfg: PreprocessConfig,
    *,
    augment: bool,
    occlusion: OcclusionLike | None = None,
    cache_root: Path | None = None,
    use_cache: bool = True,
    position: int = -1,
) -> ClipFlows:
    """The flows of one clip (a DataFrame row), from the cache when possible.

    ``augment=True``: every pair of :func:`merkit.preprocess.augment.augment_pairs` (training
    clips); ``False``: the original pair only (test clips). ``occlusion``: an
    :class:`OcclusionLike` applied to every used frame before cropping. ``cache_root``: defaults to
    ``merkit.paths.cache_dir()``. Raises :class:`AnnotationError`, :class:`FrameError` or
    :class:`FlowError`, each naming the clip.
    """
    occlusion = _active(occlusion)
    item = row if isinstance(row, ClipInput) else clip_input(row, position)
    plan = plan_clip(item, cfg, augment=augment, occlusion=occlusion)
    if use_cache:
        hit = _load(plan, cfg, cache_root)
        if hit is not None:
            return hit
    return compute_clip(plan, cfg, occlusion, root=cache_root, use_cache=use_cache)


# --- many clips ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FlowSet:
    """The flow samples of a DataFrame's clips.

    ``x``: (N, 2, S, S) float32 (u, v); ``clip``: (N,) int64 row position in the DataFrame;
    ``apex_frame``: (N,) int64; ``angle``: (N,) float32; ``is_original``: (N,) bool.
    ``names``: clip name per DataFrame row; ``faces``: :class:`ClipFace` per row (boxes and
    landmarks for the report); ``fallbacks``: row position -> fallback kind, for the clips whose
    face was not found on the onset frame. ``stats``: counts (``clips``, ``computed``, ``cached``,
    ``samples``), wall ``seconds`` of this build, and per stage (face, frames, flow; see
    :class:`ClipFlows`) the
    CPU seconds of this build (``<stage>_seconds_cpu``) and of the entries' original computation
    (``<stage>_seconds_cpu_when_computed``, also for cache hits).
    Select a fold's samples with :meth:`subset`.
    """

    x: np.ndarray
    clip: np.ndarray
    apex_frame: np.ndarray
    angle: np.ndarray
    is_original: np.ndarray
    names: tuple[str, ...]
    faces: tuple[ClipFace, ...]
    fallbacks: Mapping[int, str]
    config: PreprocessConfig
    occlusion: str | None
    stats: Mapping[str, float]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def indices(
        self, rows: Sequence[int] | np.ndarray, *, original_only: bool = False
    ) -> np.ndarray:
        """Sample indices (N,) of the clips at DataFrame positions ``rows``."""
        mask = np.isin(self.clip, np.asarray(rows, dtype=np.int64))
        if original_only:
            mask &= self.is_original
        return np.flatnonzero(mask)

    def subset(self, rows: Sequence[int] | np.ndarray, *, original_only: bool = False) -> FlowSet:
        """The samples of the clips at ``rows`` (training: all pairs; test: ``original_only``)."""
        idx = self.indices(rows, original_only=original_only)
        return dataclasses.replace(
            self,
            x=self.x[idx],
            clip=self.clip[idx],
            apex_frame=self.apex_frame[idx],
            angle=self.angle[idx],
            is_original=self.is_original[idx],
        )

    def fallback_table(self):
        """pandas DataFrame of the clips with a face fallback: position, clip, fallback,
        source_frame (where the box came from) and flow_onset (the frame the flows start from:
        not the annotated onset for a ``"neighbour"`` fallback)."""
        import pandas as pd

        rows = [
            {
                "position": p,
                "clip": self.names[p],
                "fallback": kind,
                "source_frame": self.faces[p].source_frame,
                "flow_onset": self.faces[p].flow_onset,
            }
            for p, kind in sorted(self.fallbacks.items())
        ]
        return pd.DataFrame(
            rows, columns=["position", "clip", "fallback", "source_frame", "flow_onset"]
        )


def _progress_bar():
    """tqdm's notebook widget when ipywidgets is installed, else the text bar (no warning)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm


def _worker(
    i: int,
    plan: ClipPlan,
    cfg: PreprocessConfig,
    occlusion: Any,
    root: Path | None,
    threads: int,
    parent_pid: int | None = None,
) -> tuple[int, ClipFlows]:
    if parent_pid is not None:
        die_with_parent(parent_pid)  # a killed parent stops this worker within a second
    if threads:
        import cv2

        cv2.setNumThreads(threads)  # one OpenCV thread per joblib worker: no oversubscription
    return i, compute_clip(plan, cfg, occlusion, root=root)


def _thread_worker(
    i: int, plan: ClipPlan, cfg: PreprocessConfig, occlusion: Any, root: Path | None
) -> tuple[int, ClipFlows]:
    # OpenCV runs on this thread alone (one thread, set by _opencv_threads): its CPU clock
    # is the clip's CPU time
    return i, compute_clip(plan, cfg, occlusion, root=root, clock=time.thread_time)


BACKENDS = ("threads", "processes")
""":func:`build_flowset`'s ways to run clips in parallel."""


@contextlib.contextmanager
def _opencv_threads(threads: int) -> Iterator[None]:
    """OpenCV's (process-wide) thread count set to ``threads`` in the block, restored after."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _largest_first(missing: Sequence[int], plans: Sequence[ClipPlan]) -> list[int]:
    """``missing`` ordered by descending cost (distinct TV-L1 pairs; stable among equals), so
    the long training clips start first and the short ones fill the workers' tails."""
    return sorted(missing, key=lambda i: -len({(a, g) for a, g, _ in plans[i].pairs}))


def _compute_parallel(
    missing: Sequence[int],
    plans: Sequence[ClipPlan],
    cfg: PreprocessConfig,
    occlusion: Any,
    root: Path | None,
    n_jobs: int,
    backend: str,
) -> Iterator[tuple[int, ClipFlows]]:
    """``(row, ClipFlows)`` of the ``missing`` clips as they finish, one clip per task."""
    from joblib import Parallel, delayed

    order = _largest_first(missing, plans)
    if backend == "threads":
        with _opencv_threads(1):  # one OpenCV thread per worker: no oversubscription
            jobs = (delayed(_thread_worker)(i, plans[i], cfg, occlusion, root) for i in order)
            yield from Parallel(
                n_jobs=n_jobs, backend="threading", return_as="generator_unordered", batch_size=1
            )(jobs)
        return
    parent = os.getpid()
    jobs = (delayed(_worker)(i, plans[i], cfg, occlusion, root, 1, parent) for i in order)
    yield from Parallel(
        n_jobs=n_jobs, backend="loky", return_as="generator_unordered", batch_size=1
    )(jobs)


@dataclass(frozen=True)
class _FlowPayload:
    """What every Slurm task of one flow build shares."""

    cfg: PreprocessConfig
    occlusion: Any
    root: Path


def _flow_task(payload: _FlowPayload, batch: Sequence[ClipPlan]) -> list[str]:
    """One Slurm array task: compute and cache the clips of ``batch`` that are not cached yet
    (in the task's CPUs as threads); their names."""
    cfg, occlusion, root = payload.cfg, payload.occlusion, payload.root
    todo = [p for p in batch if _load(p, cfg, root) is None]
    threads = cluster.task_cpus(1)
    if threads > 1 and len(todo) > 1:
        done = _compute_parallel(range(len(todo)), todo, cfg, occlusion, root, threads, "threads")
        with contextlib.closing(done):
            for _ in done:
                pass
    else:
        for plan in todo:
            compute_clip(plan, cfg, occlusion, root=root)
    return [p.item.name for p in batch]


def _compute_on_slurm(
    missing: Sequence[int],
    plans: Sequence[ClipPlan],
    cfg: PreprocessConfig,
    occlusion: Any,
    root: Path | None,
    slurm: cluster.SlurmConfig,
    progress: bool,
) -> Iterator[tuple[int, ClipFlows]]:
    """``(row, ClipFlows)`` of the ``missing`` clips, computed by Slurm array tasks and loaded
    from the cache; :class:`merkit.cluster.ArrayIncomplete` for batches that failed for good."""
    order = _largest_first(missing, plans)
    n_batches = -(-len(order) // slurm.clips_per_task)
    batches = [[plans[i] for i in order[b::n_batches]] for b in range(n_batches)]
    where = Path(root or cache.cache_root()).resolve()
    desc = f"flows{'' if occlusion is None else ' ' + occlusion.key}"
    outcome = cluster.run_array(_flow_task, batches, slurm, shared=_FlowPayload(cfg, occlusion, where), desc=desc,
                                describe=lambda b: {"clips": [p.item.name for p in b]}, progress=progress)
    if outcome.failed:
        lines = [f"{desc}: {sum(len(f.item) for f in outcome.failed)} clip(s) failed on Slurm on every attempt "
                 "(the others are cached; building again computes only these):"]
        for f in outcome.failed:
            lines.append("  clips " + ", ".join(p.item.name for p in f.item))
            lines.append(f.describe())
        raise cluster.ArrayIncomplete("\n".join(lines), outcome.failed)
    for i in missing:
        hit = _load(plans[i], cfg, root)
        if hit is None:
            raise FileNotFoundError(
                f"{plans[i].item.name}: its Slurm task finished but its cache entry {plans[i].flow_path(where)} "
                "cannot be read here: is the cache on a file system the compute nodes share (MERKIT_DATA)?")
        yield i, dataclasses.replace(hit, from_cache=False)  # computed by this build, on Slurm


def build_flowset(
    df: Any,
    cfg: PreprocessConfig,
    *,
    train_mask: Any,
    occlusion: OcclusionLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    cache_root: Path | None = None,
    backend: Literal["threads", "processes"] = "threads",
    slurm: cluster.SlurmConfig | None = None,
) -> FlowSet:
    """Flows of every clip of ``df`` (one row per clip, the loaders' schema), cached per clip.

    ``train_mask``: bool per row (or one bool for all): True rows get the augmented pairs, the
    others their original pair only. Tip: every clip is a training clip in some fold, so build
    once with ``train_mask=True`` and take ``fs.subset(test_rows, original_only=True)`` for the
    test side. ``n_jobs``: joblib workers (default ``cfg.n_jobs``); cache hits are loaded in this
    process, only misses go to the workers, each finished clip is written at once (a killed run
    resumes). ``progress``: a tqdm bar (notebook or terminal). ``backend``: ``"threads"``
    (default: threads of this process, OpenCV set to one thread each for the build, which also
    affects other threads' OpenCV calls meanwhile) or ``"processes"`` (joblib's loky workers,
    for an occlusion spec that holds the GIL); both give the same flows. ``n_jobs=1`` (or a
    single missing clip) computes in this thread with OpenCV's own thread count. ``slurm``: the
    missing clips are computed by Slurm array tasks instead, ``slurm.clips_per_task`` per task
    (module docs), then loaded from the cache (which the compute nodes must share).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if cfg.flow.out_size is None:
        raise ValueError(
            "build_flowset: cfg.flow.out_size is unset; each table row's recipe sets it "
            "(merkit.reproduce.tables.with_out_size(cfg, size))"
        )
    t_start = time.perf_counter()
    cache.clean_stale(cache_root)
    occlusion = _active(occlusion)
    n = len(df)
    mask = np.broadcast_to(np.asarray(train_mask, dtype=bool), (n,))
    n_jobs = cfg.n_jobs if n_jobs is None else n_jobs
    items = [clip_input(row, i) for i, (_, row) in enumerate(df.iterrows())]
    plans = [
        plan_clip(it, cfg, augment=bool(m), occlusion=occlusion)
        for it, m in zip(items, mask, strict=True)
    ]

    tqdm = _progress_bar()
    results: dict[int, ClipFlows] = {}
    bar = tqdm(
        total=n,
        desc=f"flows{'' if occlusion is None else ' ' + occlusion.key}",
        unit="clip",
        disable=not progress,
    )
    try:
        for i, plan in enumerate(plans):
            hit = _load(plan, cfg, cache_root)
            if hit is not None:
                results[i] = hit
                bar.update(1)
        missing = [i for i in range(n) if i not in results]
        if missing and slurm is not None:
            for i, res in _compute_on_slurm(missing, plans, cfg, occlusion, cache_root, slurm, progress):
                results[i] = res
                bar.update(1)
        elif missing and n_jobs != 1 and len(missing) > 1:
            done = _compute_parallel(missing, plans, cfg, occlusion, cache_root, n_jobs, backend)
            with contextlib.closing(done):  # restores OpenCV's threads even on an early exit
                for i, res in done:
                    results[i] = res
                    bar.update(1)
        else:
            for i in missing:
                results[i] = compute_clip(plans[i], cfg, occlusion, root=cache_root)
                bar.update(1)
    finally:
        bar.close()

    ordered = [results[i] for i in range(n)]
    fallbacks = {i: r.fallback for i, r in enumerate(ordered) if r.fallback}
    if fallbacks:
        listed = ", ".join(f"{ordered[i].name} ({kind})" for i, kind in fallbacks.items())
        warnings.warn(
            f"{len(fallbacks)} clip(s) with a face fallback: {listed} (see FlowSet.fallbacks)",
            stacklevel=2,
        )
    computed = [r for r in ordered if not r.from_cache]
    stats: dict[str, float] = {
        "clips": n,
        "computed": len(computed),
        "cached": n - len(computed),
        "samples": int(sum(r.x.shape[0] for r in ordered)),
        "seconds": time.perf_counter() - t_start,
    }
    for stage in ("face", "frames", "flow"):
        # CPU seconds spent in this call, and what the entries cost when they were computed
        stats[f"{stage}_seconds_cpu"] = float(sum(r.timings.get(stage, 0.0) for r in computed))
        stats[f"{stage}_seconds_cpu_when_computed"] = float(
            sum(r.timings.get(stage, 0.0) for r in ordered)
        )
    size = cfg.flow.out_size

    def cat(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
        return np.concatenate(parts) if parts else empty

    return FlowSet(
        x=cat([r.x for r in ordered], np.zeros((0, 2, size, size), np.float32)),
        clip=cat(
            [np.full(r.x.shape[0], i, np.int64) for i, r in enumerate(ordered)],
            np.zeros(0, np.int64),
        ),
        apex_frame=cat([r.apex_frame for r in ordered], np.zeros(0, np.int64)),
        angle=cat([r.angle for r in ordered], np.zeros(0, np.float32)),
        is_original=cat([r.is_original for r in ordered], np.zeros(0, bool)),
        names=tuple(r.name for r in ordered),
        faces=tuple(r.face for r in ordered),
        fallbacks=fallbacks,
        config=cfg,
        occlusion=None if occlusion is None else occlusion.key,
        stats=stats,
    )
