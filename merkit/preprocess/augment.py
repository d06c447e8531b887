"""The papers' 70x augmentation: 10 apex positions x 7 rotation angles per training clip.

MER-auGCN Sec. IV-B2 and RRRN Sec. IV-B2 (same scheme): with onset, apex and offset frame
positions P_on, P_ap, P_off,

* 4 enriched apex frames at ``P_on + (P_ap - P_on) x [0.6, 0.7, 0.8, 0.9]`` (rising phase),
* 5 enriched apex frames at ``P_ap + (P_off - P_ap) x [0.1, 0.2, 0.3, 0.4, 0.5]`` (falling phase),
* the original apex: 10 apex frames; the flow is always from the original onset;
* onset and apex rotated together by -15, -10, ..., 15 degrees (7 angles) before the flow;

10 x 7 = 70 flows per training clip. Test clips use only the original (onset, apex, 0 degree)
pair. Choices where the papers are silent:

* **Rounding.** A position ``P_on + d x f`` is rounded half up to a frame number
  (``floor(x + 1/2)``, MATLAB's ``round`` for positive numbers, not Python's half-to-even), and
  computed in exact rational arithmetic so that e.g. 0.7 x 10 is exactly 7, not 7.000000000000001.
* **Coinciding positions** (short clips: e.g. apex - onset = 2 puts 0.6..0.9 at onset+1, onset+1,
  onset+2, onset+2): duplicates are **kept**, so every training clip always contributes exactly
  ``len(fractions) + 1`` apex positions (70 pairs) and the clip weighting of the papers' "70
  times" is preserved; the pipeline computes a repeated pair once and copies it. ``unique=True``
  (or :attr:`AugmentConfig.unique`) drops the repeats instead.
* When apex == onset, the rising-phase positions are the onset itself (a zero-motion pair);
  they are kept, as the formula gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

BEFORE_FRACTIONS: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)
AFTER_FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
ANGLES: tuple[float, ...] = (-15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0)


@dataclass(frozen=True)
class AugmentConfig:
    """Which apex positions and rotation angles a training clip gets (hashed into the cache key).

    ``enabled=False`` gives every clip only its original pair. The paper profile is the default
    (4 + 5 fractions, 7 angles: 70 pairs). ``rotate_on``: ``"frame"`` rotates the full frames about
    the face-box centre and then crops (no invented corners); ``"crop"`` rotates the resized crop
    with replicated borders (cheaper on SAMM's large frames). ``unique``: drop coinciding apex
    positions (see the module docstring; default keeps them).
    """

    enabled: bool = True
    before_fractions: tuple[float, ...] = BEFORE_FRACTIONS
    after_fractions: tuple[float, ...] = AFTER_FRACTIONS
    angles: tuple[float, ...] = ANGLES
    rotate_on: str = "frame"
    unique: bool = False

    def __post_init__(self) -> None:
        for f in (*self.before_fractions, *self.after_fractions):
            if not 0.0 <= f <= 1.0:
                raise ValueError(f"apex fractions must lie in [0, 1], got {f}")
        if not self.angles:
            raise ValueError("AugmentConfig.angles must not be empty (use (0.0,) for no rotation)")
        if self.rotate_on not in ("frame", "crop"):
            raise ValueError(f"rotate_on must be 'frame' or 'crop', not {self.rotate_on!r}")

    @property
    def pairs_per_clip(self) -> int:
        """Pairs per training clip when no positions coincide (70 for the papers)."""
        if not self.enabled:
            return 1
        return (len(self.before_fractions) + len(self.after_fractions) + 1) * len(self.angles)


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def _exact(f: float) -> Fraction:
    # 0.7 -> 7/10, not the binary double 0.6999999999999999555910790149937...
    return Fraction(str(f))


def apex_positions(
    onset: int,
    apex: int,
    offset: int,
    *,
    before: tuple[float, ...] = BEFORE_FRACTIONS,
    after: tuple[float, ...] = AFTER_FRACTIONS,
    unique: bool = False,
) -> list[int]:
    """The enriched apex frames, the original apex included, in temporal order.

    ``[round(on + (ap - on) f) for f in before] + [ap] + [round(ap + (off - ap) f) for f in after]``
    with round = half up in exact arithmetic; 10 positions for the papers' fractions, duplicates
    kept unless ``unique`` (then sorted distinct positions). Example: onset 0, apex 10, offset 20
    -> ``[6, 7, 8, 9, 10, 11, 12, 13, 14, 15]``.
    Raises ``ValueError`` unless ``onset <= apex <= offset``.
    """
    onset, apex, offset = int(onset), int(apex), int(offset)
    if not onset <= apex <= offset:
        raise ValueError(
            f"need onset <= apex <= offset, got onset={onset}, apex={apex}, offset={offset}"
        )
    rise = [_round_half_up(onset + (apex - onset) * _exact(f)) for f in before]
    fall = [_round_half_up(apex + (offset - apex) * _exact(f)) for f in after]
    positions = [*rise, apex, *fall]
    return sorted(set(positions)) if unique else positions


def augment_pairs(
    onset: int, apex: int, offset: int, cfg: AugmentConfig, *, augment: bool = True
) -> list[tuple[int, float, bool]]:
    """The (apex_frame, angle, is_original) pairs of one clip.

    ``augment=False`` or ``cfg.enabled=False``: ``[(apex, 0.0, True)]``. Otherwise every apex
    position x every angle (positions outer, angles inner), with exactly one ``is_original``
    entry: the original apex slot at angle 0; when 0 is not among ``cfg.angles`` the original
    pair is prepended so a test-style sample always exists.
    """
    if not (augment and cfg.enabled):
        return [(int(apex), 0.0, True)]
    positions = apex_positions(
        onset,
        apex,
        offset,
        before=cfg.before_fractions,
        after=cfg.after_fractions,
        unique=cfg.unique,
    )
    original_slot = positions.index(apex) if cfg.unique else len(cfg.before_fractions)
    pairs: list[tuple[int, float, bool]] = []
    for i, pos in enumerate(positions):
        for angle in cfg.angles:
            pairs.append((pos, float(angle), i == original_slot and float(angle) == 0.0))
    if not any(orig for *_, orig in pairs):
        pairs.insert(0, (int(apex), 0.0, True))
    return pairs
