"""A cheap, content-aware fingerprint of a clip table (stored with every result)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from merkit.io import stable_hash


def data_fingerprint(df: pd.DataFrame) -> str:
    """Hash of the clip table and each clip's frame names and sizes (cheap, content-aware).

    Per clip: subject, clip, onset, apex, offset, AUs, objective class and, for every frame,
    its file name and size in bytes (``-1`` when the file is missing).
    """
    rows = []
    for row in df.itertuples(index=False):
        frames = [(Path(f).name, Path(f).stat().st_size if Path(f).exists() else -1) for f in row.frames]
        rows.append([row.subject, row.clip, row.onset, row.apex, row.offset, list(row.aus),
                     row.objective_class, frames])
    return stable_hash(rows)
