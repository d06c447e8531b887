"""Reports: the notebook session (banner, provenance-stamped tables), figures, galleries, the index."""

from __future__ import annotations

from merkit.report.session import (
    METRIC_NAMES,
    METRIC_ORDER,
    PUBLISHED_NOTE,
    Report,
    beside,
    data_fingerprint,
    git_revision,
    start,
)

__all__ = ["METRIC_NAMES", "METRIC_ORDER", "PUBLISHED_NOTE", "Report", "beside", "data_fingerprint",
           "git_revision", "start"]
