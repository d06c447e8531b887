"""Data sets: annotation tables + frame folders -> one DataFrame row per clip.

The bottom layer: it imports only :mod:`merkit.paths`, :mod:`merkit.io`, :mod:`merkit.facs`
and :mod:`merkit.landmarks` (never torch, scikit-learn or OpenCV at import time).

Data sets are entries of a registry (:mod:`merkit.data.registry`: name, label, root variable,
layout, loader, synthetic stand-in); CASME II, SAMM and SMIC-HS are the built-in ones
(SMIC-HS without a synthetic stand-in yet). Loaders (all
read the folders as distributed; the embedded synthetic set is written in the same layouts,
so the same loaders read it):

* :func:`merkit.data.casme2.load` ``(root, *, variant="raw", on_missing="error", ...)``
* :func:`merkit.data.samm.load` ``(root, *, on_missing="error", ...)``
* :func:`merkit.data.smic.load` ``(root, *, on_missing="error", apex_table=None, ...)``: SMIC-HS
  (class by folder, no AU codes: ``objective_class`` 0, not coded)
* :func:`merkit.data.composite.load` ``(roots, classes=MEGC_CLASSES, ...)``: any registered
  data sets, ``roots`` mapping name -> folder
* :func:`merkit.data.megc2018.load` ``(casme2_root, samm_root, classes=(1, 2, 3, 4, 5))``
* :func:`merkit.data.megc2019.load` ``(casme2_root, samm_root, smic_root)``: the MEGC 2019
  composite, plus the column ``emotion_class`` (negative / positive / surprise)

Where the data come from (licensed roots or the synthetic set): :class:`DataConfig` ->
:func:`resolve` -> :class:`DataSource` (``.load(classes)``); ``python -m merkit.data`` prints
a summary. :func:`fingerprint` (alias :func:`data_fingerprint`) hashes a clip table's content
(every used frame's bytes and the annotation rows; :func:`clip_fingerprints` per clip).

Schema (:data:`COLUMNS`, in order; one row per clip, sorted by dataset, subject, clip):

===================  =========================================================================
``dataset``          the registered name: ``"casme2"`` | ``"samm"`` | ...
``subject``          unique across datasets: ``"casme2/sub01"``, ``"samm/006"``
``clip``             ``"EP02_01f"``, ``"006_1_2"`` (the frame folder name)
``onset``            int, first frame number (as in the file names)
``apex``             int, ``onset <= apex <= offset``
``offset``           int, last frame number
``apex_estimated``   bool, the sheet held ``"/"``; apex = ``(onset + offset) // 2``
``aus``              tuple[int, ...], sorted unique AU numbers (laterality dropped)
``objective_class``  int 1–7; 0 (not coded) for a data set without AU codes (SMIC)
``emotion``          str, the coders' estimated emotion, lower case
``frames``           tuple[Path, ...], onset..offset inclusive, temporal order
                     (``frames[apex - onset]`` is the apex frame)
``n_frames``         int, ``offset - onset + 1``
``type``             str, SAMM's "Type" cell; ``"micro"`` for CASME II
``aus_text``         str, the AU cell as written (``"4+L10"``)
``source_file``      str, the annotation file's name
``source_row``       int, its 1-based spreadsheet row
===================  =========================================================================

``df.attrs["skipped"]`` lists the clips skipped with ``on_missing="skip"`` (dicts: dataset,
subject, clip, where, reason); nothing is dropped silently. Errors are
:class:`AnnotationError` (a ValueError) or :class:`FileNotFoundError` /
:class:`FramesNotFoundError`, with the file, row and clip in the message.
"""

from __future__ import annotations

from merkit.data import casme2, composite, megc2018, megc2019, registry, samm, smic
from merkit.data._common import (
    COLUMNS,
    AnnotationError,
    DataWarning,
    FramesNotFoundError,
    validate,
)
from merkit.data.fingerprint import clip_fingerprints, data_fingerprint, fingerprint
from merkit.data.registry import (
    DatasetEntry,
    dataset_root,
    get_dataset,
    list_datasets,
    register_dataset,
    unregister_dataset,
)
from merkit.data.source import DataConfig, DataSource, resolve

__all__ = [
    "COLUMNS",
    "AnnotationError",
    "DataConfig",
    "DataSource",
    "DataWarning",
    "DatasetEntry",
    "FramesNotFoundError",
    "casme2",
    "composite",
    "clip_fingerprints",
    "data_fingerprint",
    "fingerprint",
    "dataset_root",
    "get_dataset",
    "list_datasets",
    "megc2018",
    "megc2019",
    "register_dataset",
    "registry",
    "resolve",
    "samm",
    "smic",
    "unregister_dataset",
    "validate",
]
