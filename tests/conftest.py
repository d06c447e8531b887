"""Shared fixtures. Tests never write into the repository's data/ or reports/."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def isolated_env(tmp_path_factory):
    """Point merkit's data, reports and build folders at one session-wide temp dir."""
    root = tmp_path_factory.mktemp("merkit-env")
    saved = {k: os.environ.get(k) for k in ("MERKIT_DATA", "MERKIT_REPORTS", "MERKIT_BUILD",
                                            "CASME2_ROOT", "SAMM_ROOT", "SMIC_ROOT")}
    os.environ["MERKIT_DATA"] = str(root / "data")
    os.environ["MERKIT_REPORTS"] = str(root / "reports")
    os.environ["MERKIT_BUILD"] = str(root / "build")
    os.environ.pop("CASME2_ROOT", None)
    os.environ.pop("SAMM_ROOT", None)
    os.environ.pop("SMIC_ROOT", None)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
