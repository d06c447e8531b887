"""Calibration of the embedded synthetic benchmark: three reference probes with 95 % intervals.

The synthetic set (:mod:`merkit.data.synthetic`) is a benchmark only if it is neither trivial
nor noise. Three probes, on the MEGC 2018 classes I–V of the composite (253 clips at full
scale: CASME-like 185 + SAMM-like 68), all with one classifier, a standardised multinomial
logistic regression (``make_pipeline(StandardScaler(), LogisticRegression(C=1))``,
:class:`ProbeConfig`):

* ``linear``: the flattened original onset -> apex flows ``(2, S, S)`` of the profile's
  MER-auGCN preprocessing (:func:`merkit.reproduce.preprocessing.flow_config`, no
  augmentation), scored leave-one-subject-out over the composite (``loso``) and holdout
  database (``casme2->samm``, ``samm->casme2``).
* ``null``: the same on the flow between two *neutral* frames of each clip, the first frame
  written and the onset (:func:`null_table`); LOSO.
* ``oracle``: the same classifier on ground-truth features only (:func:`oracle_features`):
  per AU of :data:`merkit.data._face_model.AU_MOTIONS` and face half, ``gain x p(apex)``; LOSO.

Every cell is pooled over its folds (MEGC convention) and carries a subject-clustered bootstrap
95 % interval (:func:`merkit.metrics.clustered_bootstrap`, the profile's
:class:`~merkit.metrics.BootstrapConfig`), as :func:`merkit.reproduce.tables.score` does.
:func:`check` tests the targets of issue #11 (:class:`Targets`).

Flows come from the preprocessing cache (:func:`merkit.preprocess.pipeline.build_flowset`), so
a second run only refits the probes. :func:`calibrate` reads ``CALIBRATION.json`` in the
set's folder when it was computed on the same data (fingerprint) with the same settings, and
writes it with ``save=True`` (``python -m merkit.data.synthetic --calibrate``); a stale file is
never served.

Usage::

    from merkit.config import get_profile
    from merkit.reproduce import calibration
    result = calibration.calibrate("data/synthetic/full", get_profile("quick"))
    result.table    # probe, protocol, metric, value, ci_low, ci_high, n_clips, n_subjects
    result.checks   # target, rule, value, ci_low, ci_high, passed, miss
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from merkit import metrics, protocols
from merkit.config import Profile, get_profile
from merkit.data import DataSource, synthetic
from merkit.data._face_model import AU_MOTIONS, INTENSITY_GAIN
from merkit.facs import MEGC_CLASSES
from merkit.io import read_json, stable_hash, to_json, write_json
from merkit.preprocess.flow import FlowError
from merkit.preprocess.pipeline import FlowSet, build_flowset, clip_flows
from merkit.reproduce import preprocessing
from merkit.reproduce.preprocessing import flow_config

#: the file :func:`calibrate` reads and writes in the synthetic set's folder (a file the set's
#: folder may hold: replacing the set replaces it too)
CALIBRATION_FILE = "CALIBRATION.json"
#: bump when the probes' definitions change (a file of another version is recomputed)
CALIBRATION_VERSION = "1"

PROBES: tuple[str, ...] = ("linear", "null", "oracle")
METRICS: tuple[str, ...] = ("war", "uar")
#: the columns of :attr:`Calibration.table`
TABLE_COLUMNS: tuple[str, ...] = ("probe", "protocol", "metric", "value", "ci_low", "ci_high",
                                  "n_clips", "n_subjects")
#: the columns of :attr:`Calibration.checks`
CHECK_COLUMNS: tuple[str, ...] = ("target", "probe", "protocol", "metric", "rule", "value", "ci_low",
                                  "ci_high", "passed", "miss")

#: face halves of the oracle features: FACS laterality, ``L`` = the subject's left
HALVES: tuple[str, ...] = ("L", "R")
#: the oracle feature columns, ``AU<n>_<half>`` for every modelled AU (sorted) and half
ORACLE_COLUMNS: tuple[str, ...] = tuple(f"AU{au}_{half}" for au in sorted(AU_MOTIONS) for half in HALVES)


@dataclass(frozen=True)
class ProbeConfig:
    """The probes' classifier: ``StandardScaler`` then ``LogisticRegression(C, solver,
    max_iter)`` (multinomial, L2), refitted on the training clips of every fold.

    ``solver="newton-cg"``: the same (strictly convex) optimum as sklearn's default lbfgs, but
    with ~1500 flow features and a few hundred clips (nearly separable) lbfgs needs ~400
    iterations per fit and newton-cg ~20: on the smoke set's LOSO folds it gave the same
    predictions 20x faster.
    """

    C: float = 1.0
    solver: str = "newton-cg"
    max_iter: int = 1000


@dataclass(frozen=True)
class Targets:
    """What a calibrated set shows (issue #11 item 4).

    (a) the linear probe's LOSO UAR lies in ``linear_uar`` (learnable, not trivial);
    (b) the null probe is *at chance*: the 95 % interval of its LOSO UAR contains ``chance``
    (1/5: any predictor that ignores its input has expected UAR 1/C whatever the class
    frequencies, since each class's recall is then the rate of predicting it);
    (c) the oracle's LOSO UAR is at least ``oracle_uar`` (the labels follow from the motion).
    (a) and (c) are judged on the point estimate, (b) on the interval.
    """

    linear_uar: tuple[float, float] = (0.30, 0.55)
    chance: float = 1.0 / len(MEGC_CLASSES)
    oracle_uar: float = 0.90


# --- ground truth -> oracle features -----------------------------------------------------------


def raised_cosine(frame: int, onset: int, apex: int, offset: int) -> float:
    """An AU's amplitude profile at ``frame``: 0 at ``onset``, rising as a raised cosine to 1 at
    ``apex``, back to 0 at ``offset``, 0 outside (the generator's own
    :func:`merkit.data.synthetic.au_profile`, at one frame)."""
    return float(synthetic.au_profile(frame, onset, apex, offset, frame)[0])


def au_truth(clip: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The true per-AU motion of one ground-truth clip record (``ground_truth.json``).

    The record's ``"au_truth"`` list when the generator wrote one (``au``, ``side``,
    ``intensity``, ``gain``, ``onset``, ``apex``, ``offset``); otherwise it is rebuilt from
    ``au_spec`` (``[au, side, intensity]``): every AU follows the clip's onset / apex /
    offset, ``gain = INTENSITY_GAIN[intensity]`` (1.0 without a letter).
    """
    if clip.get("au_truth") is not None:
        return [dict(a) for a in clip["au_truth"]]
    return [{"au": int(au), "side": str(side), "intensity": str(level),
             "gain": float(INTENSITY_GAIN.get(str(level), 1.0)), "onset": int(clip["onset"]),
             "apex": int(clip["apex"]), "offset": int(clip["offset"])}
            for au, side, level in clip["au_spec"]]


def oracle_feature(truth: Iterable[Mapping[str, Any]], apex: int) -> np.ndarray:
    """``(len(ORACLE_COLUMNS),)`` float: per AU and face half, ``gain x p(apex)``.

    ``truth``: :func:`au_truth` of a clip; ``apex``: its annotated apex frame; ``p`` each AU's
    :func:`raised_cosine` profile. Side ``""`` counts for both halves, ``"L"`` / ``"R"`` for
    one; an AU listed twice adds up. An AU without a motion model raises ``KeyError``.
    """
    column = {name: i for i, name in enumerate(ORACLE_COLUMNS)}
    out = np.zeros(len(ORACLE_COLUMNS))
    for a in truth:
        au, side = int(a["au"]), str(a.get("side") or "")
        if au not in AU_MOTIONS:
            raise KeyError(f"AU{au} has no motion model in merkit.data._face_model.AU_MOTIONS")
        if side not in ("", *HALVES):
            raise ValueError(f"AU{au}: side must be '', 'L' or 'R', not {side!r}")
        value = float(a["gain"]) * raised_cosine(apex, int(a["onset"]), int(a["apex"]), int(a["offset"]))
        for half in HALVES if side == "" else (side,):
            out[column[f"AU{au}_{half}"]] += value
    return out


def oracle_features(clips: Sequence[Mapping[str, Any]], apexes: Sequence[int] | None = None) -> np.ndarray:
    """``(N, len(ORACLE_COLUMNS))``: :func:`oracle_feature` of every ground-truth record, at
    ``apexes`` (the annotated apex per clip; default each record's ``"apex"``)."""
    apexes = [int(c["apex"]) for c in clips] if apexes is None else list(apexes)
    if len(apexes) != len(clips):
        raise ValueError(f"{len(clips)} clips but {len(apexes)} apex frames")
    rows = [oracle_feature(au_truth(c), int(a)) for c, a in zip(clips, apexes, strict=True)]
    return np.stack(rows) if rows else np.zeros((0, len(ORACLE_COLUMNS)))


# --- clip tables ------------------------------------------------------------------------------


def _key(dataset: Any, subject: Any, clip: Any) -> tuple[str, str, str]:
    return str(dataset), str(subject), str(clip)


def truth_records(root: str | os.PathLike[str], df: pd.DataFrame) -> list[dict[str, Any]]:
    """The raw ``ground_truth.json`` record of every row of ``df`` (matched on dataset,
    subject, clip), in ``df``'s order; a clip without ground truth raises ``KeyError``."""
    clips = read_json(Path(root) / synthetic.GROUND_TRUTH)["clips"]
    by_key = {_key(c["dataset"], c["subject"], c["clip"]): c for c in clips}
    missing = [k for k in map(_key, df["dataset"], df["subject"], df["clip"]) if k not in by_key]
    if missing:
        raise KeyError(f"no ground truth for {len(missing)} clip(s), e.g. {'/'.join(missing[0])}")
    return [by_key[k] for k in map(_key, df["dataset"], df["subject"], df["clip"])]


def null_table(df: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each clip's neutral pair as its onset -> apex: ``(first_frame, onset)``.

    ``truth``: :func:`merkit.data.synthetic.load_ground_truth` (``first_frame``,
    ``all_frames``). The copy has ``onset = first_frame``, ``apex = offset = onset`` (the
    clip's) and ``frames`` = first..onset, so :func:`~merkit.preprocess.pipeline.build_flowset`
    computes (and caches) the flow between two frames without expression.
    """
    by_key = {_key(r.dataset, r.subject, r.clip): r for r in truth.itertuples()}
    rows = []
    for rec in df.itertuples():
        gt = by_key[_key(rec.dataset, rec.subject, rec.clip)]
        first, onset = int(gt.first_frame), int(gt.onset)  # the true onset: no expression before it
        rows.append({"onset": first, "apex": onset, "offset": onset,
                     "frames": tuple(gt.all_frames[: onset - first + 1]), "n_frames": onset - first + 1})
    out = df.copy()
    for column in ("onset", "apex", "offset", "frames", "n_frames"):
        out[column] = [r[column] for r in rows]
    return out


# --- probes -----------------------------------------------------------------------------------


def classifier(config: ProbeConfig) -> Pipeline:
    """A fresh standardised logistic regression (the one classifier of every probe)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=config.C, solver=config.solver,
                                                              max_iter=config.max_iter))


def predict_folds(x: np.ndarray, y: np.ndarray, folds: Sequence[protocols.Fold],
                  config: ProbeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fit on every fold's training clips, predict its test clips -> ``(test positions,
    predictions)`` pooled over the folds, in fold order. ``x``: ``(N, F)``, ``y``: ``(N,)``."""
    tests, preds = [], []
    for fold in folds:
        model = classifier(config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the scores say what it learnt
            model.fit(x[fold.train], y[fold.train])
        tests.append(np.asarray(fold.test, np.int64))
        preds.append(model.predict(x[fold.test]))
    return np.concatenate(tests), np.concatenate(preds).astype(np.int64)


def score_cell(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray,
               bootstrap: metrics.BootstrapConfig) -> list[dict[str, Any]]:
    """One row per metric (WAR, UAR): value, ci_low, ci_high (subject-clustered bootstrap of the
    pooled predictions, ``groups`` the subject per clip), n_clips, n_subjects."""
    out = []
    for metric in METRICS:
        value = getattr(metrics, metric)(y_true, y_pred, MEGC_CLASSES)
        interval = metrics.clustered_bootstrap(y_true, y_pred, groups, metric, labels=MEGC_CLASSES,
                                               **bootstrap.options())
        out.append({"metric": metric, "value": float(value), "ci_low": interval.low,
                    "ci_high": interval.high, "n_clips": int(len(y_true)),
                    "n_subjects": int(len(np.unique(groups)))})
    return out


def run_probe(name: str, x: np.ndarray, df: pd.DataFrame, protocol_names: Sequence[str],
              config: ProbeConfig, bootstrap: metrics.BootstrapConfig) -> list[dict[str, Any]]:
    """Rows of :data:`TABLE_COLUMNS` for probe ``name`` on features ``x`` ``(N, F)`` of ``df``'s
    clips, per protocol: ``"loso"`` (CDE folds, one per subject) or an HDE fold's name."""
    y = df["objective_class"].to_numpy(np.int64)
    groups = df["subject"].to_numpy()
    hde = {f.name: f for f in protocols.folds(df, "hde")} if set(protocol_names) - {"loso"} else {}
    rows = []
    for protocol in protocol_names:
        folds = (protocols.folds(df, "cde", protocols.ProtocolConfig(cde="loso")) if protocol == "loso"
                 else [hde[protocol]])
        test, pred = predict_folds(x, y, folds, config)
        rows += [{"probe": name, "protocol": protocol} | r
                 for r in score_cell(y[test], pred, groups[test], bootstrap)]
    return rows


def flow_matrix(flows: FlowSet, n_clips: int) -> np.ndarray:
    """``(n_clips, 2 * S * S)``: each clip's original onset -> apex flow, flattened."""
    index = flows.indices(np.arange(n_clips), original_only=True)
    if not np.array_equal(flows.clip[index], np.arange(n_clips)):
        raise ValueError("the flow set does not hold exactly one original pair per clip")
    return flows.x[index].reshape(n_clips, -1).astype(np.float64)


def null_flows(null: pd.DataFrame, profile: Profile, *, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(rows kept, (n_kept, F) flows)`` of the neutral pairs of :func:`null_table`.

    Built with :func:`build_flowset` (cached). A clip whose face is found on neither neutral
    frame before the onset has no neutral pair (``FlowError``): only then are the clips built
    one by one and such clips left out (the table's ``n_clips`` says how many remain).
    """
    cfg = flow_config(profile)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*face fallback.*")  # expected on neutral frames
        try:
            flows = build_flowset(null, cfg, train_mask=False, progress=progress)
            return np.arange(len(null)), flow_matrix(flows, len(null))
        except FlowError:
            kept, x = [], []
            for i, (_, row) in enumerate(null.iterrows()):
                try:
                    x.append(clip_flows(row, cfg, augment=False, position=i).x[0].ravel())
                    kept.append(i)
                except FlowError:
                    continue
            return np.asarray(kept, np.int64), np.asarray(x, dtype=np.float64)


# --- the calibration --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Calibration:
    """The probes' table, the targets' checks and what they were computed on.

    ``table``: :data:`TABLE_COLUMNS`; ``checks``: :data:`CHECK_COLUMNS` (``miss``: how far the
    value (a, c) or the interval (b) lies outside the target, 0 when it passes);
    ``fingerprint``: the synthetic set's data fingerprint; ``settings``: profile, flows,
    bootstrap, classifier and targets (their hash is :attr:`settings_key`); ``from_file``:
    read from ``CALIBRATION.json`` rather than computed; ``seconds``: wall time of the computation.
    """

    table: pd.DataFrame
    checks: pd.DataFrame
    fingerprint: str
    settings: dict[str, Any]
    from_file: bool = False
    seconds: float = 0.0
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def settings_key(self) -> str:
        return stable_hash(self.settings)

    @property
    def passed(self) -> bool:
        """Every target passes."""
        return bool(self.checks["passed"].all())

    def to_json(self) -> dict[str, Any]:
        """The payload of ``CALIBRATION.json``."""
        return {"calibration_version": CALIBRATION_VERSION, "fingerprint": self.fingerprint,
                "settings": self.settings, "settings_key": self.settings_key, "created": self.created,
                "seconds": self.seconds, "passed": self.passed,
                "table": self.table.to_dict(orient="records"),
                "checks": self.checks.to_dict(orient="records")}


def settings(profile: Profile, probe: ProbeConfig, targets: Targets) -> dict[str, Any]:
    """What a calibration depends on besides the data (hashed into :attr:`Calibration.settings_key`)."""
    cfg = flow_config(profile)
    return {"version": CALIBRATION_VERSION, "profile": profile.name,
            "flows": {"face": cfg.face, "flow": cfg.flow, "augment": cfg.augment},
            "bootstrap": profile.bootstrap, "probe": probe, "targets": targets}


def check(table: pd.DataFrame, targets: Targets | None = None) -> pd.DataFrame:
    """The three targets on a :attr:`Calibration.table` (:class:`Targets`), one row each."""
    t = targets or Targets()
    lo, hi = t.linear_uar

    def cell(probe: str) -> Any:
        found = table[(table["probe"] == probe) & (table["protocol"] == "loso") & (table["metric"] == "uar")]
        if len(found) != 1:
            raise ValueError(f"the table has no single {probe} LOSO UAR row")
        return found.iloc[0]

    a, b, c = cell("linear"), cell("null"), cell("oracle")
    rows = [
        ("(a) learnable, not trivial", a, f"UAR in [{lo:.2f}, {hi:.2f}]",
         max(lo - a.value, a.value - hi, 0.0)),
        ("(b) null probe at chance", b, f"95 % interval of UAR contains {t.chance:.2f}",
         max(b.ci_low - t.chance, t.chance - b.ci_high, 0.0)),
        ("(c) oracle separates the classes", c, f"UAR >= {t.oracle_uar:.2f}",
         max(t.oracle_uar - c.value, 0.0)),
    ]
    return pd.DataFrame([{"target": name, "probe": r.probe, "protocol": r.protocol, "metric": r.metric,
                          "rule": rule, "value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high,
                          "passed": bool(miss == 0.0), "miss": float(miss)}
                         for name, r, rule, miss in rows], columns=list(CHECK_COLUMNS))


def set_root(data: DataSource | str | os.PathLike[str]) -> Path:
    """The synthetic set's folder: ``data`` itself, or the folder holding a synthetic
    :class:`~merkit.data.DataSource`'s data set roots (licensed data raise ``ValueError``)."""
    if not isinstance(data, DataSource):
        return Path(data).expanduser().resolve()
    if not data.is_synthetic:
        raise ValueError("calibration is defined on the embedded synthetic data set only, not on "
                         f"{data.label}")
    parents = {Path(r).expanduser().resolve().parent for r in data.roots.values()}
    if len(parents) != 1:
        raise ValueError(f"the synthetic data set roots are not in one folder: {sorted(map(str, parents))}")
    return parents.pop()


def source_of(root: Path) -> DataSource:
    """A :class:`~merkit.data.DataSource` on the synthetic set at ``root``."""
    marker = read_json(root / synthetic.MARKER)
    return DataSource("synthetic", {e.name: root / str(e.synthetic_dir) for e in synthetic.entries()},
                      scale=str(marker.get("scale", "full")))


def load(root: str | os.PathLike[str], expected: dict[str, Any] | None = None) -> Calibration | None:
    """``CALIBRATION.json`` of the set at ``root``, or ``None`` when it is missing, unreadable,
    of another version, computed on other data (its fingerprint is not the set's) or, with
    ``expected`` (:func:`settings`), with other settings. A stale file is never served."""
    root = Path(root)
    try:
        saved = read_json(root / CALIBRATION_FILE)
        current = synthetic.fingerprint(root)
    except (OSError, ValueError, synthetic.SyntheticDataError):
        return None
    if not isinstance(saved, dict) or saved.get("calibration_version") != CALIBRATION_VERSION:
        return None
    if saved.get("fingerprint") != current:
        return None
    if expected is not None and saved.get("settings_key") != stable_hash(expected):
        return None
    try:
        table = pd.DataFrame(saved["table"], columns=list(TABLE_COLUMNS))
        checks = pd.DataFrame(saved["checks"], columns=list(CHECK_COLUMNS))
        return Calibration(table, checks, current, saved["settings"], from_file=True,
                           seconds=float(saved.get("seconds", 0.0)), created=str(saved.get("created", "")))
    except (KeyError, TypeError, ValueError):
        return None


def calibrate(
    data: DataSource | str | os.PathLike[str],
    profile: Profile,
    *,
    flows: FlowSet | None = None,
    probe: ProbeConfig | None = None,
    targets: Targets | None = None,
    save: bool = False,
    recompute: bool = False,
    progress: bool = False,
) -> Calibration:
    """The three probes on the synthetic set ``data`` (its folder, or a synthetic DataSource).

    ``profile``: its MER-auGCN flows (:func:`~merkit.reproduce.preprocessing.flow_config`) and
    its bootstrap. ``flows``: the classes I–V clips' flows under that preprocessing if already
    built (e.g. notebook 02's, augmented or not: only the original pairs are read); otherwise
    built here (cached). A fresh ``CALIBRATION.json`` (same fingerprint, same settings) is
    served unless ``recompute``; ``save=True`` writes the result there (atomically).
    """
    root = set_root(data)
    probe = probe or ProbeConfig()
    targets = targets or Targets()
    wanted = settings(profile, probe, targets)
    if not recompute:
        saved = load(root, wanted)
        if saved is not None:
            return saved
    fingerprint = synthetic.fingerprint(root)
    start = time.perf_counter()
    source = data if isinstance(data, DataSource) else source_of(root)
    df = source.load(MEGC_CLASSES).reset_index(drop=True)
    truth = synthetic.load_ground_truth(root)

    if flows is None:
        flows = preprocessing.clip_flows(df, profile, augment=False, progress=progress)
    names = [f"{s}/{c}" for s, c in zip(df["subject"], df["clip"], strict=True)]
    if list(flows.names) != names or flows.config != flow_config(profile):
        raise ValueError("flows: not the flows of this data set's classes I–V clips under the "
                         "profile's preprocessing (preprocessing.clip_flows(clips, profile))")
    x_linear = flow_matrix(flows, len(df))
    kept, x_null = null_flows(null_table(df, truth), profile, progress=progress)
    x_oracle = oracle_features(truth_records(root, df), df["apex"].to_numpy())

    hde = protocols.hde_fold_names(df)
    boot = profile.bootstrap
    rows = run_probe("linear", x_linear, df, ("loso", *hde), probe, boot)
    rows += run_probe("null", x_null, df.iloc[kept].reset_index(drop=True), ("loso",), probe, boot)
    rows += run_probe("oracle", x_oracle, df, ("loso",), probe, boot)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    result = Calibration(table, check(table, targets), fingerprint, json_safe(wanted),
                         seconds=time.perf_counter() - start)
    if save:
        write_json(root / CALIBRATION_FILE, result.to_json())
    return result


def json_safe(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (dataclasses -> dicts, tuples -> lists)."""
    return json.loads(to_json(obj))


# --- display ----------------------------------------------------------------------------------


def view(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Wide view: one row per (probe, protocol), ``value [ci_low, ci_high]`` per metric, and the
    cell's clips and subjects."""
    cells = table.assign(cell=[f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
                               for v, lo, hi in zip(table["value"], table["ci_low"], table["ci_high"],
                                                    strict=True)])
    wide = cells.pivot_table(index=["probe", "protocol"], columns="metric", values="cell",
                             aggfunc="first", sort=False)
    wide = wide.reindex(columns=[m for m in METRICS if m in wide.columns])
    wide.columns = [m.upper() for m in wide.columns]
    counts = table.groupby(["probe", "protocol"], sort=False)[["n_clips", "n_subjects"]].first()
    out = wide.join(counts)
    out.columns.name = None
    return out


def render(result: Calibration, digits: int = 3) -> str:
    """The table with its intervals and one line per target (what ``--calibrate`` prints)."""
    boot = result.settings.get("bootstrap", {})
    lines = [f"Calibration (profile {result.settings.get('profile')}, data fingerprint "
             f"{result.fingerprint}{', read from ' + CALIBRATION_FILE if result.from_file else ''}); "
             f"95 % subject-clustered bootstrap intervals ({boot.get('n_resamples')} resamples of the "
             "test subjects), metrics pooled over folds:",
             view(result.table, digits).to_string(), ""]
    for r in result.checks.itertuples():
        verdict = "PASS" if r.passed else f"FAIL (misses by {r.miss:.{digits}f})"
        lines.append(f"{verdict:<26} {r.target}: {r.probe} {r.protocol} {r.metric.upper()} "
                     f"{r.value:.{digits}f} [{r.ci_low:.{digits}f}, {r.ci_high:.{digits}f}]; rule: {r.rule}")
    return "\n".join(lines)


def command(out: str | os.PathLike[str], *, profile: str = "quick", recompute: bool = False,
            progress: bool = True) -> str:
    """``python -m merkit.data.synthetic --calibrate``: calibrate the set at ``out`` with the
    named profile's flows and bootstrap, write ``CALIBRATION.json`` there, return the text."""
    # the set at ``out`` is the data, whatever the profile's own data source says
    result = calibrate(out, get_profile(profile), save=True, recompute=recompute, progress=progress)
    where = Path(set_root(out)) / CALIBRATION_FILE
    took = "" if result.from_file else f" in {result.seconds:.1f} s"
    return render(result) + f"\n{'read from' if result.from_file else f'computed{took}, written to'} {where}"
