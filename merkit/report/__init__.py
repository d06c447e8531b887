"""Reports: the notebook session (banner, provenance-stamped tables), figures, galleries, the index.

* :mod:`merkit.report.session` -- :func:`start` a notebook, :class:`Report` (banner, tables,
  figures, headline numbers), :func:`beside` (ours next to the published numbers);
* :mod:`merkit.report.figures` -- every plot the notebooks draw;
* :mod:`merkit.report.occlusion` -- notebook 08's occluder galleries and coverage measurements;
* :mod:`merkit.report.index` -- ``reports/index.html``.
"""

from __future__ import annotations

from merkit.report.session import (
    METRIC_NAMES,
    METRIC_ORDER,
    PUBLISHED_NOTE,
    Report,
    beside,
    git_revision,
    start,
)

__all__ = ["METRIC_NAMES", "METRIC_ORDER", "PUBLISHED_NOTE", "Report", "beside", "git_revision", "start"]
