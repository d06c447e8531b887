"""The data sets merkit knows, as a registry: one :class:`DatasetEntry` per data set.

An entry names the data set (``"casme2"``, the value of the ``dataset`` column), its display
label, the environment variable that points at a licensed copy, the folder layout the loader
reads, the loader itself and, optionally, the synthetic stand-in of the embedded data set.
Loaders and generators are ``"module:attribute"`` references imported on first use, so the
registry (and :mod:`merkit.data`) stays light.

Everything above the loaders is generic over the registry: the composite loader
(:mod:`merkit.data.composite`), :class:`merkit.data.source.DataSource`, the synthetic generator
and the HDE protocol (:func:`merkit.protocols.hde_folds`) iterate entries or the ``dataset``
column, never a hard-coded pair. Adding a data set (SMIC, ...) is one loader module plus one
entry: add it to :data:`BUILTIN` below, or call :func:`register_dataset` at run time.

A loader is called as ``load(root, *, on_missing="error", apex_rule="middle", **options)`` and
returns the schema of :data:`merkit.data.COLUMNS` with ``dataset == entry.name``, subjects
prefixed ``"<name>/"`` and ``df.attrs["dataset"] == entry.name``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merkit import paths

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ENV = re.compile(r"[A-Z_][A-Z0-9_]*")
_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def resolve_ref(ref: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except AttributeError as error:
        raise ImportError(f"{ref}: module {module} has no attribute {attr!r}") from error


@dataclass(frozen=True)
class DatasetEntry:
    """One data set: what it is called, where a licensed copy is, how it is read.

    ``name``: the ``dataset`` column value and the subject prefix (``"casme2"``).
    ``label``: the display name (``"CASME II"``).
    ``env_var``: the variable holding the licensed root (``"CASME2_ROOT"``).
    ``layout``: the folder and annotation layout the loader reads (for docs and error messages).
    ``loader``: ``"module:function"`` of the loader (see the module docstring for its call).
    ``synthetic``: ``"module:attribute"`` of the synthetic stand-in's generator (for the built-in
    sets a :class:`merkit.data.synthetic.SyntheticSpec`), or ``None`` when there is none.
    ``synthetic_dir``: its folder under the synthetic root (``"CASME2"``); set with ``synthetic``.
    """

    name: str
    label: str
    env_var: str
    layout: str
    loader: str
    synthetic: str | None = None
    synthetic_dir: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"data set name {self.name!r}: use lower case letters, digits, '_'")
        if not _ENV.fullmatch(self.env_var):
            raise ValueError(f"{self.name}: env_var {self.env_var!r} is not an upper-case name")
        for what, ref in (("loader", self.loader), ("synthetic", self.synthetic)):
            if ref is not None and not _REF.fullmatch(ref):
                raise ValueError(f"{self.name}: {what} {ref!r} is not 'module:attribute'")
        if (self.synthetic is None) != (self.synthetic_dir is None):
            raise ValueError(f"{self.name}: give both synthetic and synthetic_dir, or neither")
        if self.synthetic_dir is not None and ("/" in self.synthetic_dir or not self.synthetic_dir):
            raise ValueError(f"{self.name}: synthetic_dir {self.synthetic_dir!r} is not a folder name")

    @property
    def has_synthetic(self) -> bool:
        """Whether the embedded synthetic data set has a stand-in for this data set."""
        return self.synthetic is not None

    def load_function(self) -> Callable[..., Any]:
        """The loader (imported on first call)."""
        return resolve_ref(self.loader)

    def synthetic_generator(self) -> Any:
        """The synthetic stand-in's generator (imported on first call)."""
        if self.synthetic is None:
            raise LookupError(f"{self.label} has no synthetic stand-in; set {self.env_var}")
        return resolve_ref(self.synthetic)

    def root(self) -> Path | None:
        """The licensed root from :attr:`env_var`, or ``None`` when unset."""
        return paths.env_dir(self.env_var)


CASME2 = DatasetEntry(
    name="casme2",
    label="CASME II",
    env_var="CASME2_ROOT",
    layout="""\
root/
  CASME2-coding-20140508.xlsx        Subject, Filename, (blank), OnsetFrame, ApexFrame,
                                     OffsetFrame, (blank), Action Units, Estimated Emotion
  CASME2-ObjectiveClasses.xlsx       Subject, Filename, Objective Class (1–7)
  CASME2_RAW_selected/sub01/EP02_01f/img46.jpg         variant="raw" (default)
  Cropped/sub01/EP02_01f/reg_img46.jpg                  variant="cropped"
""",
    loader="merkit.data.casme2:load",
    synthetic="merkit.data.synthetic:CASME2_SPEC",
    synthetic_dir="CASME2",
)

SAMM = DatasetEntry(
    name="samm",
    label="SAMM",
    env_var="SAMM_ROOT",
    layout="""\
root/
  SAMM_Micro_FACS_Codes_v2.xlsx      preamble rows, then the header (row 14 in the real
                                     file): Subject, Filename, Inducement Code, Onset Frame,
                                     Apex Frame, Offset Frame, Duration, Type, Action Units,
                                     Estimated Emotion, Objective Classes, Notes
  006/006_1_2/006_05562.jpg          grayscale frames; the number after the last "_" is
                                     the frame number (zero-padded to 5 digits in the real
                                     data, but found by parsing, not by assuming the padding)
""",
    loader="merkit.data.samm:load",
    synthetic="merkit.data.synthetic:SAMM_SPEC",
    synthetic_dir="SAMM",
)

SMIC = DatasetEntry(
    name="smic",
    label="SMIC-HS",
    env_var="SMIC_ROOT",
    layout="""\
root/
  HS/s1/micro/negative/s1_ne_01/image0600001.bmp    colour frames at 100 fps, onset..offset;
     s1/micro/positive/s1_po_02/...                 the class is the folder (negative,
     s1/micro/surprise/s1_sur_01/...                positive, surprise); no AU codes, no apex
                                                    (the middle frame, flagged, unless an
                                                    apex table Subject, Filename, Apex is given)
""",
    loader="merkit.data.smic:load",
    synthetic="merkit.data.synthetic:SMIC_SPEC",
    synthetic_dir="SMIC",
)

#: The data sets registered when merkit starts, in this order.
BUILTIN: tuple[DatasetEntry, ...] = (CASME2, SAMM, SMIC)

_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add ``entry``; a name already registered raises :class:`ValueError`. Returns ``entry``."""
    if entry.name in _REGISTRY:
        known = _REGISTRY[entry.name]
        raise ValueError(f"data set {entry.name!r} is already registered ({known.label})")
    taken = {e.env_var: e.name for e in _REGISTRY.values()}
    if entry.env_var in taken:
        raise ValueError(f"{entry.name}: {entry.env_var} is already {taken[entry.env_var]!r}'s root")
    folders = {e.synthetic_dir: e.name for e in _REGISTRY.values() if e.synthetic_dir}
    if entry.synthetic_dir in folders:
        raise ValueError(
            f"{entry.name}: synthetic folder {entry.synthetic_dir!r} is already "
            f"{folders[entry.synthetic_dir]!r}'s"
        )
    _REGISTRY[entry.name] = entry
    return entry


def unregister_dataset(name: str) -> DatasetEntry:
    """Remove and return the entry ``name`` (for tests that register a toy data set)."""
    entry = get_dataset(name)
    del _REGISTRY[name]
    return entry


def get_dataset(name: str) -> DatasetEntry:
    """The entry registered as ``name`` (an unknown name: :class:`KeyError` listing the known)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; registered: {', '.join(_REGISTRY)}") from None


def list_datasets() -> tuple[DatasetEntry, ...]:
    """Every registered entry, in registration order (the built-in ones first)."""
    return tuple(_REGISTRY.values())


def dataset_root(name: str) -> Path | None:
    """The licensed root of ``name`` from its entry's environment variable, or ``None``."""
    return get_dataset(name).root()


for _entry in BUILTIN:
    register_dataset(_entry)
del _entry
