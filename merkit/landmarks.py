"""The iBUG 68-point landmark scheme (dlib's shape predictor, 300-W): index groups, defined once.

Indices are 0-based, as dlib returns them. "Left"/"right" are the *subject's* sides as the
300-W annotation names them (``right_eye`` is points 36-41, on the image's left for a frontal
face). Every module that needs a facial part (face model, occluders, region coverage) slices
with these, never with literal numbers.
"""

from __future__ import annotations

N_LANDMARKS: int = 68

#: part -> slice into a (68, 2) landmark array
JAW = slice(0, 17)
RIGHT_BROW = slice(17, 22)
LEFT_BROW = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_LOWER = slice(31, 36)
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)

#: Landmark 0-26 (jaw + brows): the "landmark face box" of the random-block occluder.
FACE_OUTLINE = slice(0, 27)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYES = slice(36, 48)
MOUTH = slice(48, 68)

NOSE_TOP: int = 27
NOSE_TIP: int = 30
CHIN: int = 8


def indices(part: slice) -> tuple[int, ...]:
    """The landmark numbers of a part (``indices(MOUTH) == (48, ..., 67)``)."""
    return tuple(range(*part.indices(N_LANDMARKS)))


#: The facial regions whose hidden share notebook 08 reports.
REGIONS: dict[str, tuple[int, ...]] = {
    "brows": indices(BROWS),
    "eyes": indices(EYES),
    "nose": indices(NOSE),
    "mouth": indices(MOUTH),
    "jaw": indices(JAW),
}
