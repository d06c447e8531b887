"""Every path merkit uses, resolved from the repository root or an environment variable.

Nothing here depends on the current working directory, so notebooks (run by papermill from
``build/``), tests and the CLI all see the same folders.

Environment variables
---------------------
``MERKIT_DATA``      root of the git-ignored data folder (default ``<repo>/data``)
``MERKIT_REPORTS``   where HTML reports and tables go (default ``<repo>/reports``)
``MERKIT_BUILD``     executed notebooks (default ``<repo>/build``)

Each licensed data set's root comes from the variable its registry entry names
(``CASME2_ROOT``, ``SAMM_ROOT``, ...): see :func:`merkit.data.registry.dataset_root`, which
reads it with :func:`env_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Root of all data (raw, synthetic, cache); git-ignored. Licensed faces never leave it."""
    return _env_path("MERKIT_DATA", REPO_ROOT / "data")


def synthetic_dir() -> Path:
    """Where the embedded synthetic data set is generated (``CASME2/`` and ``SAMM/`` inside)."""
    return data_dir() / "synthetic"


def cache_dir() -> Path:
    """Interim, content-addressed cache of preprocessing and experiment results."""
    return data_dir() / "interim"


def models_dir() -> Path:
    """Models trained by ``python -m merkit train`` (``<profile>-<method>.pt``); git-ignored."""
    return data_dir() / "models"


def reports_dir() -> Path:
    """Generated reports: ``*.html``, ``index.html``, ``tables/``, ``figures/``."""
    return _env_path("MERKIT_REPORTS", REPO_ROOT / "reports")


def tables_dir() -> Path:
    """Machine-readable results (CSV/JSON) that every report renders from."""
    return reports_dir() / "tables"


def figures_dir() -> Path:
    return reports_dir() / "figures"


def build_dir() -> Path:
    """Executed notebooks (with outputs); git-ignored."""
    return _env_path("MERKIT_BUILD", REPO_ROOT / "build")


def notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def env_dir(name: str) -> Path | None:
    """The folder named by environment variable ``name`` (``~`` expanded, absolute), or ``None``
    when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None
