"""Runners: one (method, fold, seed) -> predictions, for the experiment engine.

A runner is a frozen dataclass holding the arrays it needs (joblib memory-maps large arrays
for worker processes) and the method's settings; ``runner(spec)`` trains on ``spec.train``
clips and predicts ``spec.test`` clips. Test clips always use their original onset->apex flow;
training clips use every augmented pair when ``augment`` is on (MER-auGCN Sec. IV-B2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from merkit.experiments import RunResult, RunSpec
from merkit.facs import MEGC_CLASSES

IGNORE = -100  # class label of clips outside I–V (AU task): ignored by the CE term


@dataclass(frozen=True, eq=False)
class FlowData:
    """Flow samples and per-clip labels.

    ``x``: (N, 2, S, S) float32; ``clip``: (N,) row position; ``is_original``: (N,) bool;
    ``labels``: (n_clips,) objective class 1..7; ``aus``: (n_clips, K) 0/1 AU targets in the
    model's AU order (K may be 0).
    """

    x: np.ndarray
    clip: np.ndarray
    is_original: np.ndarray
    labels: np.ndarray
    aus: np.ndarray

    def train_samples(self, clips: tuple[int, ...], augment: bool) -> np.ndarray:
        mask = np.isin(self.clip, np.asarray(clips, dtype=np.int64))
        if not augment:
            mask &= self.is_original
        return np.flatnonzero(mask)

    def test_samples(self, clips: tuple[int, ...]) -> np.ndarray:
        """Index of each test clip's original sample, in ``clips`` order."""
        originals = np.flatnonzero(self.is_original)
        by_clip = dict(zip(self.clip[originals].tolist(), originals.tolist(), strict=True))
        missing = [c for c in clips if c not in by_clip]
        if missing:
            raise KeyError(f"no original flow for clip rows {missing[:5]}")
        return np.array([by_clip[c] for c in clips], dtype=np.int64)


@dataclass(frozen=True)
class ModelBuilder:
    """Picklable ``seed -> nn.Module``: a registered model with its typed config and input size.

    ``weights``: an optional local checkpoint file, loaded by
    :func:`merkit.models.pretrained.load_pretrained` through ``create_model(weights=...)``
    (merkit's own state_dict, or a torchvision / timm ResNet18, VGG16(-BN) or VGG-Face file
    mapped onto the model's trunks); random initialisation otherwise. :meth:`describe` says
    which (:func:`merkit.models.pretrained.describe_weights`).
    """

    model: str
    config: Any
    input_size: int
    weights: str | None = None

    def __call__(self, seed: int) -> Any:
        import torch

        from merkit.models import create_model

        torch.manual_seed(seed)
        return create_model(self.model, self.config, input_size=self.input_size, weights=self.weights)

    def describe(self) -> str:
        """``"random"`` or ``"<file name> sha256:<first 12 hex>"``: what the row starts from."""
        from merkit.models.pretrained import describe_weights

        return describe_weights(self.weights)


def class_targets(labels: np.ndarray, n_classes: int = len(MEGC_CLASSES)) -> np.ndarray:
    """1..C -> 0..C-1; other classes -> :data:`IGNORE`."""
    y = np.asarray(labels, dtype=np.int64) - 1
    return np.where((y >= 0) & (y < n_classes), y, IGNORE)


@dataclass(frozen=True, eq=False)
class DeepRunner:
    """Train a flow network and predict.

    ``build(seed) -> nn.Module``; ``objective(output, y, au) -> (loss, parts)``, a loss adapter
    of :mod:`merkit.losses`, for :func:`merkit.train.fit`; ``task``: ``"classify"`` (objective classes I–V) or ``"au"``
    (AU detection: the result's ``y_true``/``y_pred`` are (n, len(au_columns)) 0/1 and
    ``scores`` the probabilities, thresholded at 0.5).
    """

    data: FlowData
    build: Callable[[int], Any]
    objective: Callable[..., Any]
    train: Any  # merkit.train.TrainConfig
    augment: bool = True
    task: Literal["classify", "au"] = "classify"
    au_columns: tuple[int, ...] = ()
    keep: tuple[str, ...] = ()  # model outputs stored per test clip, e.g. ("alpha",) for RRRN
    n_classes: int = len(MEGC_CLASSES)  # labels 1..n_classes are trained on, others ignored

    def __call__(self, spec: RunSpec) -> RunResult:
        model, n_train, history = self.fit(spec.train, spec.seed)
        return self._result(spec, model, n_train, history)

    def fit(self, clips: Sequence[int], seed: int) -> tuple[Any, int, Any]:
        """Train one model on ``clips`` (row positions; their augmented pairs when ``augment``)
        -> ``(model, training samples, history)``; what every run and ``merkit train`` do."""
        import torch

        from merkit import train as tr

        train_idx = self.data.train_samples(tuple(clips), self.augment)
        tr.seed_everything(seed, self.train.deterministic)
        model = self.build(seed)
        x = torch.from_numpy(np.ascontiguousarray(self.data.x[train_idx]))
        y, au = self._targets(train_idx)
        history = tr.fit(model, x, y, au, self.train, seed=seed, loss_fn=self.objective)
        return model, len(train_idx), history

    def run_many(self, specs: Sequence[RunSpec]) -> list[RunResult]:
        """The runs of ``specs`` (one row: same settings, other folds and seeds) as one batched
        ensemble (:func:`merkit.ensemble.fit_ensemble`); each member equals its lone run up to
        float rounding."""
        import torch

        from merkit import train as tr
        from merkit.ensemble import fit_ensemble

        own = [self.data.train_samples(s.train, self.augment) for s in specs]
        used = np.unique(np.concatenate(own))  # every sample any member reads, stored once
        members = [np.searchsorted(used, idx) for idx in own]
        models = []
        for s in specs:
            tr.seed_everything(s.seed, self.train.deterministic)
            models.append(self.build(s.seed))
        x = torch.from_numpy(np.ascontiguousarray(self.data.x[used]))
        y, au = self._targets(used)
        histories = fit_ensemble(models, x, y, au, members, self.train, seeds=[s.seed for s in specs],
                                 loss_fn=self.objective)
        return [self._result(s, m, len(idx), h)
                for s, m, idx, h in zip(specs, models, own, histories, strict=True)]

    def _targets(self, samples: np.ndarray) -> tuple[Any, Any]:
        """Class targets ``(n,)`` and AU targets ``(n, K)`` (``None`` without AU detectors)."""
        import torch

        clips = self.data.clip[samples]
        y = torch.from_numpy(class_targets(self.data.labels[clips], self.n_classes))
        au = torch.from_numpy(self.data.aus[clips].astype(np.float32))
        return y, (au if au.shape[1] else None)

    def _result(self, spec: RunSpec, model: Any, n_train: int, history: Any) -> RunResult:
        import torch

        from merkit import train as tr

        test_idx = self.data.test_samples(spec.test)
        probs, au_probs, extras = tr.predict(model, torch.from_numpy(self.data.x[test_idx]), self.train)
        test = np.asarray(spec.test, dtype=np.int64)
        info = {"train_samples": int(n_train), "samples_per_second": history.samples_per_second}
        extra_arrays = {k: extras[k] for k in self.keep if k in extras}
        if self.task == "au":
            if au_probs is None:
                raise ValueError(f"{spec.method}: the AU task needs a model with AU detectors")
            cols = list(self.au_columns)
            truth = self.data.aus[test][:, cols]
            scores = au_probs[:, cols]
            return RunResult("", info, test, truth, (scores >= 0.5).astype(np.int64), scores,
                             history.epochs, extras=extra_arrays)
        y_true = self.data.labels[test]
        y_pred = probs.argmax(axis=1) + 1
        if au_probs is not None:
            extra_arrays["au_probs"] = au_probs
        return RunResult("", info, test, y_true, y_pred, probs, history.epochs, extras=extra_arrays)


@dataclass(frozen=True, eq=False)
class SVMRunner:
    """A linear SVM on fixed features (the handcrafted baselines).

    ``features``: (n_clips, F); ``labels``: (n_clips,) classes; ``groups``: (n_clips,) subject
    ids used to choose C by cross-validation over TRAINING subjects only.
    """

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    svm: Any  # merkit.features.svm.SVMConfig
    n_classes: int = len(MEGC_CLASSES)  # the width of the one-hot scores (labels 1..n_classes)

    def __call__(self, spec: RunSpec) -> RunResult:
        from merkit.features.svm import fit_predict_svm

        train = np.asarray(spec.train, dtype=np.int64)
        test = np.asarray(spec.test, dtype=np.int64)
        y_pred, chosen_c = fit_predict_svm(
            self.features[train], self.labels[train], self.groups[train], self.features[test],
            seed=spec.seed, config=self.svm,
        )
        n_classes = self.n_classes
        scores = np.zeros((len(test), n_classes))
        scores[np.arange(len(test)), np.clip(np.asarray(y_pred) - 1, 0, n_classes - 1)] = 1.0
        return RunResult("", {"C": float(chosen_c)}, test, self.labels[test], np.asarray(y_pred), scores)
