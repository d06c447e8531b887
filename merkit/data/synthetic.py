"""The embedded synthetic micro-expression data set, in the CASME II, SAMM and SMIC-HS layouts.

The real data sets are licensed and never shipped, so merkit generates a stand-in whose ground
truth (subject, onset / apex / offset, AUs, objective class, per-frame landmarks) is known
exactly, written in the folders and spreadsheets the loaders of :mod:`merkit.data.casme2` and
:mod:`merkit.data.samm` read, so everything downstream runs on it unchanged.  **Numbers
obtained on it are not results on CASME II / SAMM.**

Usage::

    from merkit.data import synthetic
    out = synthetic.generate("data/synthetic/full", seed=0, scale="full")   # no-op if done
    table = synthetic.plan("full", seed=0)        # the clip table, without rendering
    truth = synthetic.load_ground_truth(out)      # + per-frame landmarks

    python -m merkit.data.synthetic [--out DIR] [--scale full|smoke] [--seed 0] [--jobs 2]

Layout written under ``out_dir`` (one folder per registered data set that has a synthetic
stand-in, named by its registry entry's ``synthetic_dir``: :func:`entries`, each described by
a :class:`SyntheticSpec`)::

    CASME2/CASME2-coding-20140508.xlsx        Subject (int), Filename, (blank), OnsetFrame,
                                              ApexFrame ("/" for a few clips), OffsetFrame,
                                              (blank), Action Units, Estimated Emotion
    CASME2/CASME2-ObjectiveClasses.xlsx       Subject ("sub01"), Filename, Objective Class
    CASME2/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg          colour
    SAMM/SAMM_Micro_FACS_Codes_v2.xlsx        13 preamble rows, header on row 14: Subject (6 or
                                              "006"), Filename, Inducement Code, Onset Frame,
                                              Apex Frame, Offset Frame, Duration, Type, Action
                                              Units, Estimated Emotion, Objective Classes, Notes
    SAMM/006/006_1_2/006_05562.jpg            grayscale, 5-digit frame numbers
    SMIC/HS/s3/micro/negative/s3_ne_01/image0623681.jpg
                                              colour, 100 fps, onset..offset only; the class
                                              is the folder; no annotation file (SMIC-HS
                                              ships .bmp frames, the loader reads either)
    ground_truth.json                         every clip (incl. true apex, AU laterality and
                                              intensity, first/last frame written, identity)
    landmarks.npy                             float32 (n_frames_total, 68, 2) (x, y) of every
                                              frame written, clips in ground_truth.json order
    FINGERPRINT.json                          written last: version, seed, scale, config hash,
                                              size + SHA-256 of every file, data fingerprint

Counts (:func:`plan`)
---------------------
``scale="full"``: CASME-like 255 clips of 26 subjects (``sub01``..``sub26``), of which the
MEGC 2018 classes I–V are 185 clips with 25/15/99/26/20 per class (MER-auGCN Table II), plus
15 class VI and 55 class VII clips; SAMM-like 159 clips of 32 subjects (``006``..``037``, as the
real ids), of which I–V are 68 clips of exactly 21 subjects with 24/13/20/8/3 per class, plus 26
class VI and 65 class VII clips (11 subjects have VI/VII clips only, so the class filter also
changes the subject count).  The VI/VII split is our choice (Table II gives only I–V).
SMIC-like (``scale="full"``): 164 clips of the 16 SMIC-HS subject ids (s1..s20 without s7,
s10, s16, s17), 70 negative / 51 positive / 43 surprise (MEGC 2019); the frames show the AUs of
a Table I combination of class I (positive), II (surprise) or III–V (negative); no AU codes; the
true apex at 30–60 % of the clip, the loader's the middle frame (:data:`SMIC_COUNTS`).  At full
scale the CASME-like and SAMM-like emotion words are assigned (their own random stream,
:func:`_composite_emotions`) so that the MEGC 2019 composite has exactly the published clips
per class and subjects: CASME II 88 / 32 / 25 of 24, SAMM 92 / 26 / 15 of 28.
``scale="smoke"``: 4 CASME-like subjects (14 clips), 3 SAMM-like subjects (10 clips, one of
them with VI/VII clips only) and 2 SMIC-like subjects (6 clips); every class I–VII occurs in both, each data set has at least two
subjects with class I–V clips.

AUs: each I–V clip draws a combination of its class from MER-auGCN Table I
(:data:`merkit.facs.TABLE_I`); ``objective_class(aus) == class`` holds for every I–V clip (an
extra AU14 is added to some, which keeps the class).  The CASME-like half never uses AU23, 24,
26 or 40 and the SAMM-like half never AU38 or 40, as the paper says of the real sets (Sec.
III-A).  Class VI clips are fear-like (1+2+4, 20) and class VII clips contempt-like (14, 12+14
one-sided) or other; the label is the generator's, not :func:`~merkit.facs.objective_class`'s.
AUs are added to VI/VII clips until each Table VII AU (1, 2, 4, 9, 12, 14, 17) has at least
six positive clips per data set at full scale.  AU cells use the real forms: CASME ``"4+L10"``,
``"R12"``, ``"1+2"`` (a bare single AU sometimes stored as a number); SAMM ``"R12 + R15"``,
``"R14A"``, ``"4+7"`` and, once at full scale, ``"12 or 14"`` (a class I clip showing both).
The sheets hold what a coder wrote, not the truth (``ground_truth.json`` keeps both; the
objective class is always the generator's, from the true AUs): each AU of a multi-AU clip is
missed with probability 0.06 (a clip keeps at least one code), each clip gets an AU it does not
show with probability 0.06 (a partner of one of its AUs among :data:`CONFUSED_AUS`: 1↔2, 4↔7,
6↔12, 12↔14, 15↔17, 9↔10, ...), and each sided AU (10, 12, 14, 15, 20, or one coded L/R) has its
side wrong with probability 0.10 (L↔R, or bilateral ↔ one-sided); ``SyntheticConfig.coder_*``.
The noise has its own random stream per clip, so it changes no other draw.  The
``"shuffled-aus"`` variant (``SyntheticConfig.variant``) writes the same frames with the coded
AU cells permuted across the clips of each data set (``coded_from`` in ``ground_truth.json``);
beside a complete, verified standard set (``<scale>`` next to ``<scale>-<variant>``) it links
that set's frames instead of rendering them again (:func:`_standard_frames`).

Timing: onset..offset spans 24–44 frames (120–220 ms at the sets' 200 fps), apex at 30–60 %
of it with onset->apex and apex->offset at least :data:`MIN_PHASE` (10) frames each, so the
augmentation's 10 apex positions are 10 distinct frames; 3–8 extra frames are written before
onset and after offset (the first written frame and the onset are both neutral: the null probe's
pair).  A few CASME-like clips (4 %) have ApexFrame ``"/"``; their true apex is the middle frame
``(onset + offset) // 2`` with ``onset + offset`` even, so it equals both the loaders' estimate
and ``round((onset + offset) / 2)``.  Each true AU has its own onset, apex, offset and intensity
A–E around the clip's frames (:func:`_au_truth`; the strongest AU defines the annotated frames).

Faces and motion: see :mod:`merkit.data._face_model` (templates from the public-domain photos
that scikit-image and matplotlib ship, per-subject identity, the AU motion table, rendering).
CASME-like frames are colour 170 x 200 (H x W), faces 40–50 % of the width, flat lighting, JPEG
quality 88, noise sigma 1.5; SAMM-like frames grayscale 200 x 200, faces 52–62 % of the width,
brighter, gamma < 1, noise sigma 2.4, JPEG quality 95: a domain shift between the halves.

* Identity: template; the other template's lower face (nose tip down) and, onto Grace Hopper
  only, the astronaut's upper face grafted in with random weights (its details over the
  template's own shading; glasses are never grafted onto a face); a left-left / right-right
  chimera (one half of the face mirrored onto the other) for two thirds of the subjects;
  mirror; skin and surround colour; eight face-shape offsets; painted features (brows erased
  by inpainting and redrawn with a new length, arch, height, tilt, thickness and tone; painted
  scleras and irises; facial hair, lip tint, eye shadow, cheeks, moles).  A cross-dissolve of the two templates is not
  drawn: it pulls subjects of different templates together in dlib's encoding.
* Which identity a subject wears: the **cast** (:mod:`merkit.data.synthetic_cast`, searched
  offline and shipped as :data:`CAST_FILE`): per data set, twice as many identities as it has
  subjects at full scale, chosen from a pool of 3,600 (SMIC-like: 700) random identities so
  that as many of them as possible lie at least ``identity_distance`` (0.6,
  face_recognition's tolerance) apart in dlib's ResNet encoding of one canonical frame.  At
  generation each subject is offered ``identity_candidates`` (10) cast members
  (:func:`_candidate_keys`), each encoded on the subject's first onset frame as written (what
  the identity check reads); those the HOG detector misses there are dropped, and the choice
  (:func:`select_distinct`; a member goes to one subject at most) maximises the number of
  subject pairs at least 0.6 apart.  ground_truth.json records each subject's cast key, its
  encoding, the distance to its nearest other subject and whether that reaches 0.6.  On the
  full set (seed 0) **96.4 % of the 1,653 CASME/SAMM subject pairs** lie beyond 0.6, measured
  on each subject's first onset frame read back (CASME-like 97.2 %, SAMM-like 93.5 %;
  SMIC-like 94.2 %; all 2,701 pairs 94.8 %).  Why a cast: with only two source photos
  (themselves only 0.68 apart to dlib) edits of one photo stay near it: one edit moves a
  subject's encoding by at most about 0.5 (face shape 0.51, redrawn brows 0.40, lower-face
  graft 0.37, beard 0.37, chimera 0.31, painted eyes 0.25; bangs, contour shading, skin
  smoothing, eye-texture tilt / scale / flip, lid creases and eye aperture 0.08–0.22), and
  choosing among a dozen random identities per subject at generation (generator v6) left
  88.7 % of the pairs distinct.  A pool that large cannot be encoded at generation (300 s),
  and a cast chosen on one frame alone does not hold on the subjects' own frames (the same
  identity encodes up to about 0.3 apart on two clips' onset frames, median 0.07), hence the
  choice among cast members at generation.
* Per subject: its own AU geometry (expressivity, per-AU gain, a turn of every AU's
  displacement directions and per-point gains: :class:`~merkit.data._face_model.AUGeometry`).
* Per clip: placement jitter; per-AU raised-cosine profiles; an AR(1) head sway (std 0.15 px /
  0.05 deg) plus a head movement of 1–3 px and 0.5–2 deg inside onset->apex, partly undone by
  offset; blinks (AU45, not in Table I) at 0.3 per second, 150–300 ms each; a soft light spot
  that drifts and changes in strength (up to 5 %); global flicker (0.6 %); sensor noise.

At generation dlib's HOG detector (the preprocessing default) must find the face in every
subject's neutral frame and every clip's onset and apex frames; otherwise the identity / the
clip's placement is redrawn (deterministically).  ground_truth.json also holds, per clip, each
AU's region at the apex (outlines of the pixels it moves: :func:`~merkit.data._face_model.
au_regions`, rasterised by :func:`~merkit.data._face_model.region_mask`), the blinks and the head
pose at the apex.

Determinism and atomicity
-------------------------
Every random draw comes from a ``numpy.random.Generator`` seeded by ``(seed, CRC32 of a name)``
(plan, subject identity, clip), so the bytes do not depend on the number of workers or their
order; JPEG quality and the spreadsheets' zip timestamps and document dates are fixed.  The
data set is written into a temporary sibling folder, ``FINGERPRINT.json`` is written last, then
the folder is renamed into place (replacing an older synthetic set there), so an interrupted
run never leaves a folder that looks complete (its temporary folder is removed, or by the next
run if the process was killed).  Concurrent calls serialise on a lock file ``.<name>.lock``
beside ``out_dir`` (POSIX), so the set is built once and the others find it complete.  ``generate`` returns at once when ``out_dir``
already holds a complete set with the same generator version, seed, scale and configuration
(each listed file present with its recorded size; ``verify=True`` re-hashes them).  A folder
without ``FINGERPRINT.json`` that is not empty is never overwritten (it could be real data).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
import uuid
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from merkit import paths
from merkit.data import registry
from merkit.facs import MEGC_CLASSES, TABLE_VII_AUS, objective_class
from merkit.io import (
    atomic_write,
    file_fingerprint,
    pid_alive,
    read_json,
    stable_hash,
    to_json,
    write_json,
)

Scale = Literal["full", "smoke"]

#: Bump when the bytes written for a given (seed, scale, config) change.
GENERATOR_VERSION = "7"

MARKER = "FINGERPRINT.json"
GROUND_TRUTH = "ground_truth.json"
LANDMARKS = "landmarks.npy"
CASME_CODING = "CASME2-coding-20140508.xlsx"
CASME_OBJECTIVE = "CASME2-ObjectiveClasses.xlsx"
CASME_FRAMES = "CASME2_RAW_selected"
SAMM_FILE = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_HEADER_ROW = 14


def entries() -> tuple[registry.DatasetEntry, ...]:
    """The registered data sets that have a synthetic stand-in, in registry order."""
    return tuple(e for e in registry.list_datasets() if e.has_synthetic)


def synthetic_datasets() -> tuple[str, ...]:
    """Their names (``("casme2", "samm")`` for the built-in registry)."""
    return tuple(e.name for e in entries())


def _own_entries() -> frozenset[str]:
    """What a synthetic set's folder holds at its top level."""
    # CALIBRATION.json: written by --calibrate (merkit.reproduce.calibration.CALIBRATION_FILE)
    return frozenset({*(str(e.synthetic_dir) for e in entries()), GROUND_TRUTH, LANDMARKS, MARKER,
                      "CALIBRATION.json"})

#: Clips per objective class (1–7) per data set and scale.
CLASS_COUNTS: dict[str, dict[str, dict[int, int]]] = {
    "full": {
        "casme2": {1: 25, 2: 15, 3: 99, 4: 26, 5: 20, 6: 15, 7: 55},
        "samm": {1: 24, 2: 13, 3: 20, 4: 8, 5: 3, 6: 26, 7: 65},
    },
    "smoke": {
        "casme2": {1: 2, 2: 2, 3: 3, 4: 2, 5: 2, 6: 1, 7: 2},
        "samm": {1: 2, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1, 7: 2},
    },
}

#: (subjects with class I–V clips, subjects with VI/VII clips only) per data set and scale.
SUBJECT_COUNTS: dict[str, dict[str, tuple[int, int]]] = {
    "full": {"casme2": (26, 0), "samm": (21, 11)},
    "smoke": {"casme2": (4, 0), "samm": (2, 1)},
}

#: AUs each half never shows (MER-auGCN Sec. III-A on the real sets); SMIC is not FACS coded.
EXCLUDED_AUS: dict[str, frozenset[int]] = {
    "casme2": frozenset({23, 24, 26, 40}),
    "samm": frozenset({38, 40}),
    "smic": frozenset(),
}

#: SMIC-HS clips per emotion folder (MEGC 2019: 70 / 51 / 43 of 16 subjects) and scale.
SMIC_COUNTS: dict[str, dict[str, int]] = {
    "full": {"negative": 70, "positive": 51, "surprise": 43},
    "smoke": {"negative": 2, "positive": 2, "surprise": 2},
}
#: The SMIC-like subject ids: the 16 SMIC-HS subjects with micro-expressions (s1..s20 without
#: s7, s10, s16, s17), and two of them for the smoke slice.
SMIC_SUBJECTS: dict[str, tuple[int, ...]] = {
    "full": (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20),
    "smoke": (3, 11),
}
#: The objective class (MER-auGCN Table I) whose AU combinations a SMIC-like clip of an emotion
#: shows, with its weight: the frames move as the emotion's AUs do, the folder names the emotion.
SMIC_TRUE_CLASSES: dict[str, dict[int, float]] = {
    "negative": {3: 0.45, 4: 0.35, 5: 0.20}, "positive": {1: 1.0}, "surprise": {2: 1.0},
}
#: The abbreviation in a SMIC clip name (``s3_ne_05``).
SMIC_ABBREVIATIONS: dict[str, str] = {"negative": "ne", "positive": "po", "surprise": "sur"}

#: Emotion words the composite assignment (:func:`_composite_emotions`) writes per data set:
#: per MEGC 2019 class and objective class (``0``: any other class), and for clips left out of
#: the composite (per objective class, ``0``: any other); of several words, one is drawn.
COMPOSITE_WORDS: dict[str, dict[str, dict[int, tuple[str, ...]]]] = {
    "casme2": {"positive": {0: ("happiness",)}, "surprise": {0: ("surprise",)},
               "negative": {3: ("disgust", "repression"), 4: ("disgust",), 0: ("repression",)},
               "out": {5: ("sadness", "others"), 6: ("fear", "others"), 0: ("others",)}},
    "samm": {"positive": {0: ("Happiness",)}, "surprise": {0: ("Surprise",)},
             "negative": {3: ("Anger",), 4: ("Disgust",), 5: ("Sadness",), 6: ("Fear",),
                          0: ("Contempt",)},
             "out": {0: ("Other",)}},
}
#: Objective classes a composite class takes its clips from, in order of preference.
COMPOSITE_SOURCES: dict[str, dict[str, tuple[int, ...]]] = {
    "casme2": {"positive": (1, 7, 3), "surprise": (2, 6, 7), "negative": (4, 3, 7, 5, 6)},
    "samm": {"positive": (1, 7), "surprise": (2, 6, 7), "negative": (3, 4, 5, 6, 7)},
}

#: Relative weights of the Table I combinations drawn per class (simple combinations dominate,
#: as in the real sets).  Every key is a Table I combination of that class.
COMBO_WEIGHTS: dict[int, dict[tuple[int, ...], float]] = {
    1: {(12,): 4, (6, 12): 3, (6, 7, 12): 1, (7, 12): 1, (6,): 1},
    2: {(1, 2): 4, (5,): 1, (25,): 1, (1, 2, 25): 1, (25, 26): 1, (5, 24): 1},
    3: {(4,): 4, (4, 7): 3, (23,): 1, (4, 5): 1, (4, 5, 7): 0.5, (17, 24): 1, (4, 6, 7): 0.5,
        (4, 38): 0.5},
    4: {(10,): 2, (9,): 2, (4, 9): 2, (4, 40): 0.5, (4, 5, 40): 0.3, (4, 7, 9): 1, (4, 9, 17): 1,
        (4, 7, 10): 1, (4, 5, 7, 9): 0.5, (7, 10): 1},
    5: {(1,): 1, (15,): 2, (1, 4): 2, (6, 15): 1, (15, 17): 2},
    6: {(1, 2, 4): 3, (1, 2, 4, 20): 1, (4, 20): 1, (20,): 1, (1, 2, 4, 5): 1},
    7: {(14,): 3, (12, 14): 2, (14, 17): 1, (4, 14): 1, (17,): 1, (9, 14): 0.5, (2, 14): 0.5},
}

#: Estimated emotion per class: (usual, alternatives); lower case for CASME II, capitalised for
#: SAMM as in the real sheets.
EMOTIONS: dict[str, dict[int, tuple[str, ...]]] = {
    "casme2": {1: ("happiness", "repression"), 2: ("surprise", "others"),
               3: ("others", "disgust", "repression"), 4: ("disgust", "others"),
               5: ("sadness", "fear", "others"), 6: ("fear", "others"),
               7: ("others", "repression")},
    "samm": {1: ("Happiness", "Other"), 2: ("Surprise", "Other"), 3: ("Anger", "Other"),
             4: ("Disgust", "Other"), 5: ("Sadness", "Other"), 6: ("Fear", "Other"),
             7: ("Contempt", "Other")},
}

#: Frames from onset to apex and from apex to offset, at least: the augmentation's apex
#: fractions step by 0.1 (MER-auGCN Sec. IV-B2), so 10 frames make its 10 positions distinct.
MIN_PHASE = 10

_SIDED_AUS = frozenset({10, 12, 14, 15, 20})
_HEAD_RHO = 0.8
_INTENSITIES = ("A", "B", "C", "D", "E")
_INTENSITY_P = (0.2, 0.3, 0.3, 0.15, 0.05)

#: The data set variants: ``"standard"``; ``"shuffled-aus"``, the same frames, timing, classes
#: and truth with the sheets' coded AU cells permuted across the clips of each data set (a
#: control: AU labels that say nothing about the motion).
VARIANTS: tuple[str, ...] = ("standard", "shuffled-aus")

#: AU pairs a coder confuses (same region, similar appearance); an "extra" coder error adds
#: a partner of one of the clip's AUs that the clip does not show.
CONFUSED_AUS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 4), (2, 5), (4, 7), (6, 7), (6, 12), (4, 9), (9, 10), (12, 14), (14, 20),
    (15, 17), (17, 24), (23, 24), (25, 26), (9, 38), (38, 40),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """How the synthetic frames are rendered (hashed into the fingerprint, except ``n_jobs``).

    ``casme_size`` / ``samm_size`` / ``smic_size``: frame ``(height, width)``; ``clip_frames``: range of
    onset..offset lengths (inclusive; onset->apex and apex->offset are each at least
    :data:`MIN_PHASE` frames, so the 10 augmentation apex positions are distinct frames);
    ``pad_frames``: range of extra frames written before onset and after offset;
    ``au_amplitude``: global gain on the AU motion table of :mod:`merkit.data._face_model`
    (0.4 with ``subject_spread`` 1.6: the calibrated defaults, see ``--calibrate``);
    ``au_timing``: gain on each AU's own onset / apex / offset offsets around the clip's;
    ``subject_spread``: gain on each subject's AU geometry (:func:`~merkit.data._face_model.
    draw_au_geometry`); ``noise`` / ``samm_noise`` / ``smic_noise``: sensor noise sigma in grey
    levels; ``jpeg_quality`` / ``samm_jpeg_quality`` / ``smic_jpeg_quality``: compression of the
    CASME-like / SAMM-like / SMIC-like frames;
    ``flicker``: per-frame global gain sigma; ``head_motion``: gain on the rigid head motion
    (1.0: an AR(1) sway of std 0.15 px / 0.05 deg plus a movement of 1–3 px and 0.5–2 deg
    inside the onset->apex window); ``local_light``: largest gain of the moving light spot;
    ``blink_rate``: blinks (AU45) per second at ``fps`` frames per second (``smic_fps`` for the
    SMIC-like set, 100 fps as SMIC-HS); ``identity_distance``:
    each subject's neutral face lies at least this far (dlib ResNet encoding, Euclidean) from
    as many other subjects' as the choice among ``identity_candidates`` cast members per
    subject can reach (:func:`_choose_identities`; each candidate encoded on the subject's
    first clip's onset frame as written, the frame the identity check reads);
    ``detect_check``: redraw identities / placements until dlib's HOG detector finds the face
    on every onset and apex frame; ``n_jobs``: worker processes (the bytes do not depend on it).
    """

    casme_size: tuple[int, int] = (170, 200)
    samm_size: tuple[int, int] = (200, 200)
    smic_size: tuple[int, int] = (150, 200)
    clip_frames: tuple[int, int] = (24, 44)
    pad_frames: tuple[int, int] = (3, 8)
    au_amplitude: float = 0.4
    au_timing: float = 1.0
    subject_spread: float = 1.6
    noise: float = 1.5
    samm_noise: float = 2.4
    smic_noise: float = 2.0
    jpeg_quality: int = 88
    samm_jpeg_quality: int = 95
    smic_jpeg_quality: int = 85
    flicker: float = 0.006
    head_motion: float = 1.0
    local_light: float = 0.05
    blink_rate: float = 0.3
    fps: float = 200.0
    smic_fps: float = 100.0
    identity_distance: float = 0.6
    identity_candidates: int = 10
    detect_check: bool = True
    #: Coder noise of the sheets' AU cells (ground_truth.json keeps the truth), see
    #: :func:`_code_aus`: per AU of a multi-AU clip, the chance it is missed (never the last);
    coder_miss: float = 0.06
    #: per clip, the chance an AU it does not show is added (a :data:`CONFUSED_AUS` partner);
    coder_extra: float = 0.06
    #: per sided AU (10, 12, 14, 15, 20, or one coded L/R), the chance its side is wrong.
    coder_side: float = 0.10
    #: one of :data:`VARIANTS`; ``"shuffled-aus"`` permutes the coded AU cells (same frames).
    variant: str = "standard"
    n_jobs: int = field(default=2, compare=False)

    def __post_init__(self) -> None:
        for name in ("casme_size", "samm_size", "smic_size"):
            h, w = getattr(self, name)
            if h < 64 or w < 64:
                raise ValueError(f"SyntheticConfig.{name}={(h, w)}: frames must be >= 64 x 64")
        lo, hi = self.clip_frames
        if not 2 * MIN_PHASE + 1 <= lo <= hi:
            raise ValueError(f"SyntheticConfig.clip_frames={self.clip_frames}: need "
                             f"{2 * MIN_PHASE + 1} <= lo <= hi (onset->apex and apex->offset "
                             f">= {MIN_PHASE} frames each)")
        if not 1 <= self.pad_frames[0] <= self.pad_frames[1]:
            raise ValueError(f"SyntheticConfig.pad_frames={self.pad_frames}: need 1 <= lo <= hi "
                             "(the null probe needs a neutral frame before onset)")
        for name in ("jpeg_quality", "samm_jpeg_quality", "smic_jpeg_quality"):
            if not 1 <= getattr(self, name) <= 100:
                raise ValueError(f"SyntheticConfig.{name} must be in 1..100")
        for name in ("au_amplitude", "au_timing", "subject_spread", "noise", "samm_noise", "smic_noise",
                     "flicker", "head_motion", "local_light", "blink_rate", "identity_distance"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)!r} must be >= 0")
        if self.fps <= 0 or self.smic_fps <= 0 or self.identity_candidates < 1:
            raise ValueError("SyntheticConfig.fps and smic_fps must be > 0 and identity_candidates >= 1")
        for name in ("coder_miss", "coder_extra", "coder_side"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)!r} must be in 0..1")
        if self.variant not in VARIANTS:
            raise ValueError(f"SyntheticConfig.variant must be one of {VARIANTS}, not {self.variant!r}")

    def key(self) -> dict[str, Any]:
        """The fields that change the bytes written (everything but ``n_jobs``)."""
        out = dataclasses.asdict(self)
        out.pop("n_jobs")
        return out


class SyntheticDataError(RuntimeError):
    """The synthetic data set cannot be generated or read; the message says what to do."""


# --------------------------------------------------------------------------- randomness


def _rng(seed: int, *names: object) -> np.random.Generator:
    """A Generator seeded by ``seed`` and the CRC32 of ``names`` (stable across processes)."""
    words = [int(seed) & 0xFFFFFFFF]
    for name in names:
        words.append(zlib.crc32(str(name).encode("utf-8")) if not isinstance(name, int) else name)
    return np.random.default_rng(words)


# --------------------------------------------------------------------------- the plan


def _check_scale(scale: str) -> None:
    if scale not in CLASS_COUNTS:
        raise ValueError(f"scale must be one of {sorted(CLASS_COUNTS)}, not {scale!r}")


def _combos(dataset: str, cls: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    excluded = EXCLUDED_AUS[dataset]
    items = [(c, w) for c, w in COMBO_WEIGHTS[cls].items() if not set(c) & excluded]
    weights = np.array([w for _, w in items], dtype=float)
    return [c for c, _ in items], weights / weights.sum()


def _split(rng: np.random.Generator, total: int, n: int, minimum: int) -> np.ndarray:
    """``total`` items over ``n`` bins, at least ``minimum`` each, uneven (Dirichlet weights)."""
    if n == 0:
        return np.zeros(0, dtype=int)
    if total < n * minimum:
        raise ValueError(f"cannot spread {total} clips over {n} subjects with {minimum} each")
    weights = rng.dirichlet(np.full(n, 1.5))
    return minimum + rng.multinomial(total - n * minimum, weights)


def _subject_ids(dataset: str, scale: str, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    main, extra = SUBJECT_COUNTS[scale][dataset]
    if dataset == "casme2":
        return list(range(1, main + 1)), list(range(main + 1, main + extra + 1))
    pool = np.arange(6, 38)  # real SAMM ids: 006..037
    chosen = rng.permutation(pool)[: main + extra]
    return sorted(int(i) for i in chosen[:main]), sorted(int(i) for i in chosen[main:])


def _assign_classes(dataset: str, scale: str, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``(subject id, class)`` per clip: classes I–V over the main subjects (each at least one,
    uneven), VI/VII over every subject (each VI/VII-only subject at least one)."""
    counts = CLASS_COUNTS[scale][dataset]
    main_ids, extra_ids = _subject_ids(dataset, scale, rng)
    core = list(rng.permutation([c for c in MEGC_CLASSES for _ in range(counts[c])]))
    other = list(rng.permutation([c for c in (6, 7) for _ in range(counts[c])]))
    if len(other) < len(extra_ids):
        raise ValueError(f"{dataset}: fewer VI/VII clips than VI/VII-only subjects")
    per_main = _split(rng, len(core), len(main_ids), 1)
    weights = rng.dirichlet(np.full(len(main_ids) + len(extra_ids), 1.5))
    per_other = np.array([0] * len(main_ids) + [1] * len(extra_ids), dtype=int)
    per_other += rng.multinomial(len(other) - len(extra_ids), weights)
    out: list[tuple[int, int]] = []
    for ids, classes, sizes in ((main_ids, core, per_main),
                                (main_ids + extra_ids, other, per_other)):
        pos = 0
        for sid, n in zip(ids, sizes, strict=True):
            out += [(sid, int(c)) for c in classes[pos:pos + n]]
            pos += n
    assert len(out) == sum(counts.values())
    return out


def _draw_aus(dataset: str, scale: str, classes: Sequence[int],
              rng: np.random.Generator) -> tuple[list[set[int]], int | None]:
    """AU sets per clip (Table I combination of the class, sometimes + AU14; VI/VII topped up so
    every Table VII AU has enough positives) and the index of the "12 or 14" clip, if any."""
    sets: list[set[int]] = []
    for cls in classes:
        combos, weights = _combos(dataset, cls)
        aus = set(combos[int(rng.choice(len(combos), p=weights))])
        if cls in MEGC_CLASSES and rng.random() < 0.08 and objective_class(aus | {14}) == cls:
            aus.add(14)
        sets.append(aus)
    target = 6 if scale == "full" else 1
    free = [i for i, cls in enumerate(classes) if cls >= 6]
    order = [free[int(k)] for k in rng.permutation(len(free))]
    cursor = 0
    for au in TABLE_VII_AUS:
        have = sum(au in aus for aus in sets)
        for _ in range(4 * len(order)):
            if have >= target:
                break
            aus = sets[order[cursor % len(order)]]
            cursor += 1
            if au not in aus and len(aus) < 4:
                aus.add(au)
                have += 1
    or_clip = None
    if dataset == "samm" and scale == "full":  # one class I clip coded "12 or 14"
        firsts = [i for i, cls in enumerate(classes) if cls == 1]
        or_clip = firsts[int(rng.integers(len(firsts)))]
        sets[or_clip] = {12, 14}
    return sets, or_clip


def _clip_name(dataset: str, sid: int, names: set[str], rng: np.random.Generator) -> tuple[str, int | None]:
    """A new clip name for subject ``sid`` (``EP02_01f`` / ``006_1_2``) and SAMM's inducement code."""
    if dataset == "casme2":
        episode = int(rng.integers(1, 20))
        k = sum(1 for n in names if n.startswith(f"EP{episode:02d}_")) + 1
        return f"EP{episode:02d}_{k:02d}" + ("f" if rng.random() < 0.35 else ""), None
    inducement = int(rng.integers(1, 8))
    k = sum(1 for n in names if n.startswith(f"{sid:03d}_{inducement}_")) + 1
    return f"{sid:03d}_{inducement}_{k}", inducement


def _timing(dataset: str, estimated: bool, config: SyntheticConfig,
            rng: np.random.Generator) -> tuple[int, int, int, int, int]:
    """``(first, onset, apex, offset, last)`` frame numbers of one clip."""
    length = int(rng.integers(config.clip_frames[0], config.clip_frames[1] + 1))
    pre, post = (int(v) for v in rng.integers(config.pad_frames[0], config.pad_frames[1] + 1,
                                              size=2))
    first = int(rng.integers(1, 121)) if dataset == "casme2" else int(rng.integers(1000, 9001))
    onset = first + pre
    offset = onset + length - 1
    apex = onset + int(np.clip(round(rng.uniform(0.3, 0.6) * (length - 1)),
                               MIN_PHASE, length - 1 - MIN_PHASE))
    if estimated:  # ApexFrame "/": the true apex is the middle frame, with an even sum
        offset += (onset + offset) % 2
        apex = (onset + offset) // 2
    return first, onset, apex, offset, offset + post


@dataclass(frozen=True)
class _CellStyle:
    """How a clip's AU cell is written, drawn once from the plan's generator: ``bare`` (CASME: a
    single unsided AU stored as a number; ``None`` when the true spec gave no such draw) and
    ``sep`` (SAMM: ``" + "`` or ``"+"``)."""

    bare: bool | None
    sep: str


def _au_cell(dataset: str, cls: int, aus: tuple[int, ...], or_form: bool,
             rng: np.random.Generator) -> tuple[tuple[tuple[int, str, str], ...], _CellStyle]:
    """``(spec, style)``: laterality / intensity per true AU and how the sheet writes the cell.

    The draws (and their order) are the plan generator's; the cell itself is written from the
    coded spec by :func:`_format_cell`."""
    if or_form:
        return ((12, "", ""), (14, "", "")), _CellStyle(None, " + ")
    contempt = cls == 7 and rng.random() < 0.7  # contempt: one-sided 12 / 14
    contempt_side = "L" if rng.random() < 0.5 else "R"
    spec = []
    for au in aus:
        side = ""
        if contempt and au in (12, 14):
            side = contempt_side
        elif au in _SIDED_AUS and rng.random() < 0.2 or au in (1, 2, 4) and rng.random() < 0.03:
            side = "L" if rng.random() < 0.5 else "R"
        intensity = ""
        if dataset == "samm" and rng.random() < 0.5:
            intensity = str(rng.choice(_INTENSITIES, p=_INTENSITY_P))
        spec.append((au, side, intensity))
    if dataset == "casme2":
        bare = bool(rng.random() < 0.5) if len(spec) == 1 and not spec[0][1] else None
        return tuple(spec), _CellStyle(bare, "+")
    return tuple(spec), _CellStyle(None, " + " if rng.random() < 0.6 else "+")


def _partners(dataset: str) -> dict[int, tuple[int, ...]]:
    """AU -> the AUs a coder may confuse it with (:data:`CONFUSED_AUS`, both ways), without the
    AUs the data set never codes (:data:`EXCLUDED_AUS`)."""
    out: dict[int, set[int]] = {}
    for a, b in CONFUSED_AUS:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    excluded = EXCLUDED_AUS[dataset]
    return {au: tuple(sorted(p - excluded)) for au, p in out.items()}


def _code_aus(spec: tuple[tuple[int, str, str], ...], dataset: str, rng: np.random.Generator,
              config: SyntheticConfig) -> tuple[tuple[tuple[int, str, str], ...], tuple[tuple[str, int], ...]]:
    """What a human coder writes for a clip whose true AUs are ``spec`` -> ``(coded, errors)``.

    ``spec`` / ``coded``: ``(au, side, intensity)`` per AU, sorted by AU; ``errors``:
    ``(kind, au)`` with kind ``"missed"`` (an AU of a multi-AU clip left out, rate
    ``config.coder_miss`` per AU; the clip keeps at least one), ``"side"`` (an AU that can be
    one-sided coded on the other side, or bilateral <-> one-sided, ``config.coder_side`` per
    kept sided AU) and ``"extra"`` (a :data:`CONFUSED_AUS` partner of one of its AUs that the
    clip does not show, ``config.coder_extra`` per clip; side and intensity as its partner).
    ``rng`` is the clip's own coder stream; it always makes ``3 len(spec) + 2`` draws, so a
    higher rate only adds errors.
    """
    u = rng.random((len(spec), 3))  # per AU: miss, side, which side
    e = rng.random(2)  # per clip: extra, which partner
    missed = [i for i in range(len(spec)) if len(spec) > 1 and u[i, 0] < config.coder_miss]
    if len(missed) == len(spec):  # never drop the last AU: keep the one least likely missed
        missed.remove(int(np.argmax(u[:, 0])))
    coded: dict[int, tuple[str, str]] = {}
    errors: list[tuple[str, int]] = []
    for i, (au, side, level) in enumerate(spec):
        if i in missed:
            errors.append(("missed", au))
            continue
        if (au in _SIDED_AUS or side) and u[i, 1] < config.coder_side:
            if not side:
                side = "L" if u[i, 2] < 0.5 else "R"
            else:
                side = ("R" if side == "L" else "L") if u[i, 2] < 0.5 else ""
            errors.append(("side", au))
        coded[au] = (side, level)
    if e[0] < config.coder_extra:
        partners = _partners(dataset)
        shown = {au for au, _, _ in spec}
        options = sorted({(p, au) for au in shown for p in partners.get(au, ()) if p not in shown})
        if options:
            extra, source = options[int(e[1] * len(options))]
            side, level = next((s, v) for a, s, v in spec if a == source)
            coded[extra] = (side if extra in _SIDED_AUS else "", level)
            errors.append(("extra", extra))
    return tuple((au, coded[au][0], coded[au][1]) for au in sorted(coded)), tuple(errors)


def _format_cell(dataset: str, spec: tuple[tuple[int, str, str], ...], style: _CellStyle,
                 or_form: bool, bare: bool) -> Any:
    """The AU cell in the sheet's style: CASME ``"4+L10"``, ``"R12"``, ``"1+2"`` or a bare
    number ``4``; SAMM ``"R12 + R15"``, ``"R14A"``, ``"4+7"``; ``"12 or 14"`` for ``or_form``.
    ``bare``: the number form of a single unsided AU when ``style.bare`` holds no draw."""
    if or_form:
        return "12 or 14"
    tokens = [f"{side}{au}{level}" for au, side, level in spec]
    if dataset == "casme2":
        if len(spec) == 1 and not spec[0][1] and (bare if style.bare is None else style.bare):
            return int(spec[0][0])  # a bare number cell, as Excel stores "4"
        return "+".join(tokens)
    return style.sep.join(tokens)


def _composite_emotions(rows: list[dict], dataset: str, seed: int) -> None:
    """Rewrite the ``emotion`` of a full-scale CASME-like or SAMM-like plan so that the MEGC 2019
    composite (:mod:`merkit.data.megc2019`) of the set has exactly the published clips per
    class and subjects (CASME II 88 / 32 / 25 of 24 subjects, SAMM 92 / 26 / 15 of 28), as the
    objective classes match MER-auGCN Table II.

    Its own random stream (no other draw changes): the subjects with the fewest clips are left
    out (all their clips get a word outside the composite), each kept subject gets one clip in
    the composite first (so it counts), then each class is filled from the objective classes of
    :data:`COMPOSITE_SOURCES` in order; the words come from :data:`COMPOSITE_WORDS`. Positive
    clips are class I (happiness) first, surprise class II, negative classes III/IV/VII.
    """
    from merkit.data.megc2019 import PUBLISHED

    per_class, n_subjects = PUBLISHED[dataset]
    rng = _rng(seed, "megc2019", dataset)
    words, sources = COMPOSITE_WORDS[dataset], COMPOSITE_SOURCES[dataset]
    subjects = list(dict.fromkeys(r["subject"] for r in rows))
    sizes = Counter(r["subject"] for r in rows)
    ties = rng.permutation(len(subjects))
    order = sorted(range(len(subjects)), key=lambda i: (sizes[subjects[i]], ties[i]))
    dropped = {subjects[i] for i in order[: len(subjects) - n_subjects]}
    noise, pick = rng.random(len(rows)), rng.random(len(rows))
    label: dict[int, str] = {}
    need = dict(per_class)

    def rank(i: int, cls: str) -> tuple[int, float]:
        src = sources[cls]
        c = rows[i]["objective_class"]
        return (src.index(c) if c in src else len(src), float(noise[i]))

    for subject in subjects:  # one clip per kept subject first, of the class it fits best
        if subject in dropped:
            continue
        mine = [i for i, r in enumerate(rows) if r["subject"] == subject]
        options = [(rank(i, cls), cls, i) for i in mine for cls in per_class if need[cls] > 0]
        _, cls, i = min(options)
        label[i] = cls
        need[cls] -= 1
    for cls in ("positive", "surprise", "negative"):
        free = [i for i, r in enumerate(rows) if i not in label and r["subject"] not in dropped
                and r["objective_class"] in sources[cls]]
        for i in sorted(free, key=lambda i: rank(i, cls))[: need[cls]]:
            label[i] = cls
            need[cls] -= 1
    if any(need.values()):
        raise AssertionError(f"plan bug: the {dataset} composite lacks clips: {need}")
    for i, r in enumerate(rows):
        table = words[label.get(i, "out")]
        options = table.get(r["objective_class"], table[0])
        r["emotion"] = options[int(pick[i] * len(options))]


def _plan_dataset(dataset: str, scale: str, seed: int, config: SyntheticConfig) -> list[dict]:
    rng = _rng(seed, "plan", scale, dataset)
    assignments = _assign_classes(dataset, scale, rng)
    aus_sets, or_clip = _draw_aus(dataset, scale, [c for _, c in assignments], rng)
    n_estimated = max(1, round(0.04 * len(assignments))) if dataset == "casme2" else 0
    estimated = {int(i) for i in rng.choice(len(assignments), size=n_estimated, replace=False)}
    rows: list[dict] = []
    names: dict[int, set[str]] = {}
    for index, ((sid, cls), aus_set) in enumerate(zip(assignments, aus_sets, strict=True)):
        clip, inducement = _clip_name(dataset, sid, names.setdefault(sid, set()), rng)
        names[sid].add(clip)
        first, onset, apex, offset, last = _timing(dataset, index in estimated, config, rng)
        aus = tuple(sorted(aus_set))
        spec, style = _au_cell(dataset, cls, aus, index == or_clip, rng)
        gains = tuple(float(v) for v in rng.uniform(0.85, 1.15, size=len(spec)))
        choices = EMOTIONS[dataset][cls]
        emotion = choices[0] if rng.random() < 0.8 else choices[int(rng.integers(len(choices)))]
        subject_cell: Any = sid
        if dataset == "samm" and rng.random() < 0.5:
            subject_cell = f"{sid:03d}"  # SAMM stores 6 in some rows and "006" in others
        folder = f"sub{sid:02d}" if dataset == "casme2" else f"{sid:03d}"
        # the sheet holds what a coder wrote (own stream: the noise changes no other draw);
        # the "12 or 14" clip is coded as it is (both AUs shown, the coder undecided)
        coder = _rng(seed, "coder", dataset, folder, clip)
        coded, errors = (spec, ()) if index == or_clip else _code_aus(spec, dataset, coder, config)
        cell = _format_cell(dataset, coded, style, index == or_clip, bool(coder.random() < 0.5))
        rows.append({
            "dataset": dataset, "subject": f"{dataset}/{folder}", "subject_id": sid,
            "subject_cell": subject_cell, "folder": folder, "clip": clip,
            "first_frame": first, "onset": onset, "apex": apex, "offset": offset,
            "last_frame": last, "apex_estimated": index in estimated, "aus": aus,
            "au_spec": spec, "au_gains": gains, "aus_cell": cell, "objective_class": cls,
            "emotion": emotion, "inducement": inducement,
            "amplitude": float(rng.uniform(0.8, 1.2)),
            "coded_spec": coded, "coded_aus": tuple(sorted({au for au, _, _ in coded})),
            "coder_errors": errors, "coded_from": f"{dataset}/{folder}/{clip}",
        })
    if config.variant == "shuffled-aus":  # each clip receives another clip's coded cell
        order = _rng(seed, "shuffle", dataset).permutation(len(rows))
        moved = ("coded_spec", "coded_aus", "coder_errors", "coded_from", "aus_cell")
        codes = [{k: r[k] for k in moved} for r in rows]
        for row, source in zip(rows, order, strict=True):
            row.update(codes[int(source)])
    if scale == "full":
        _composite_emotions(rows, dataset, seed)
    return rows


def _plan_smic(scale: str, seed: int, config: SyntheticConfig) -> list[dict]:
    """The SMIC-like clips: :data:`SMIC_COUNTS` per emotion over :data:`SMIC_SUBJECTS` (each at
    least one clip, uneven), the true AUs a Table I combination of a class of the emotion
    (:data:`SMIC_TRUE_CLASSES`). Clips are written from onset to offset (as SMIC-HS is cut),
    the true apex at 30–60 % of the clip; the loader's apex is the middle frame (SMIC has no
    apex annotation), so ``apex_estimated`` is set. No AU codes (SMIC has none)."""
    rng = _rng(seed, "plan", scale, "smic")
    emotions = [e for e, n in SMIC_COUNTS[scale].items() for _ in range(n)]
    emotions = [emotions[int(i)] for i in rng.permutation(len(emotions))]
    ids = SMIC_SUBJECTS[scale]
    sizes = _split(rng, len(emotions), len(ids), 1)
    owners = [sid for sid, n in zip(ids, sizes, strict=True) for _ in range(int(n))]
    classes = []
    for emotion in emotions:
        weights = SMIC_TRUE_CLASSES[emotion]
        p = np.array(list(weights.values()))
        classes.append(int(list(weights)[int(rng.choice(len(weights), p=p / p.sum()))]))
    aus_sets, _ = _draw_aus("smic", scale, classes, rng)
    rows: list[dict] = []
    running: Counter[int] = Counter()
    for sid, emotion, cls, aus_set in zip(owners, emotions, classes, aus_sets, strict=True):
        running[sid] += 1
        clip = f"s{sid}_{SMIC_ABBREVIATIONS[emotion]}_{running[sid]:02d}"
        length = int(rng.integers(config.clip_frames[0], config.clip_frames[1] + 1))
        onset = int(rng.integers(1, 90)) * 10000 + int(rng.integers(1, 5000))
        offset = onset + length - 1
        offset += (onset + offset) % 2  # an even sum: the loader's middle frame is exact
        apex = onset + int(np.clip(round(rng.uniform(0.3, 0.6) * (offset - onset)),
                                   MIN_PHASE, offset - onset - MIN_PHASE))
        aus = tuple(sorted(aus_set))
        spec, _ = _au_cell("smic", cls, aus, False, rng)
        gains = tuple(float(v) for v in rng.uniform(0.85, 1.15, size=len(spec)))
        folder = f"s{sid}"
        rows.append({
            "dataset": "smic", "subject": f"smic/{folder}", "subject_id": sid, "subject_cell": sid,
            "folder": folder, "clip": clip, "first_frame": onset, "onset": onset, "apex": apex,
            "offset": offset, "last_frame": offset, "apex_estimated": True, "aus": aus,
            "au_spec": spec, "au_gains": gains, "aus_cell": None, "objective_class": cls,
            "emotion": emotion, "inducement": None, "amplitude": float(rng.uniform(0.8, 1.2)),
            "coded_spec": (), "coded_aus": (), "coder_errors": (), "coded_from": f"smic/{folder}/{clip}",
        })
    return rows


def plan(scale: Scale = "full", seed: int = 0, config: SyntheticConfig | None = None) -> pd.DataFrame:
    """The clip table of the synthetic set, without rendering anything (fast).

    One row per clip, sorted by dataset, subject, clip.  Columns: ``dataset``, ``subject``
    (``"casme2/sub01"``), ``subject_id`` (int), ``subject_cell`` (the Subject cell as written),
    ``folder``, ``clip``, ``first_frame``, ``onset``, ``apex`` (true apex), ``offset``,
    ``last_frame``, ``apex_estimated`` (the sheet holds ``"/"``), ``aus`` (sorted tuple),
    ``au_spec`` (``(au, side, intensity)`` per AU), ``au_gains``, ``aus_cell`` (the AU cell as
    written), ``objective_class``, ``emotion``, ``inducement`` (SAMM), ``amplitude``,
    ``coded_spec`` / ``coded_aus`` (what the sheet's AU cell says: the coder's, see
    :func:`_code_aus`), ``coder_errors`` (``(kind, au)``, kind ``"missed"`` | ``"extra"`` |
    ``"side"``, of ``coded_spec`` against the true spec of the clip ``coded_from``) and
    ``coded_from`` (``"casme2/sub01/EP02_01f"``: the clip whose codes the sheet gives this clip;
    itself, except in the ``"shuffled-aus"`` variant).  ``aus``, ``au_spec`` and
    ``objective_class`` are the truth (the frames show them), and so is ``au_truth``: each
    true AU with its own onset / apex / offset, intensity and gain (:func:`_au_truth`).
    """
    _check_scale(scale)
    config = config or SyntheticConfig()
    rows = [r for e in entries() for r in e.synthetic_generator().plan(scale, seed, config)]
    for r in rows:
        r["au_truth"] = _au_truth(r, seed, config)
    df = pd.DataFrame(rows)
    df = df.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)
    for cls_row in df.itertuples():
        if cls_row.objective_class in MEGC_CLASSES and objective_class(cls_row.aus) != cls_row.objective_class:
            raise AssertionError(f"plan bug: {cls_row.clip} {cls_row.aus} is not class "
                                 f"{cls_row.objective_class} by Table I")
    return df


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Style:
    size: tuple[int, int]
    framing: Any
    noise: float
    gray: bool
    jpeg_quality: int
    fps: float


def _style(dataset: str, config: SyntheticConfig) -> _Style:
    from merkit.data import _face_model as fm

    if dataset == "casme2":
        framing = fm.Framing(face_width=(0.40, 0.50), centre_x=(0.44, 0.56), centre_y=(0.52, 0.60),
                             light=0.15, gain=(0.90, 1.05), gamma=(0.95, 1.05), gray=False)
        return _Style(config.casme_size, framing, config.noise, False, config.jpeg_quality, config.fps)
    if dataset == "smic":  # SMIC-HS: colour, darker and warmer, side-lit, 100 fps
        framing = fm.Framing(face_width=(0.42, 0.52), centre_x=(0.45, 0.55), centre_y=(0.50, 0.58),
                             light=0.22, gain=(0.80, 0.95), gamma=(1.00, 1.12), gray=False)
        return _Style(config.smic_size, framing, config.smic_noise, False, config.smic_jpeg_quality,
                      config.smic_fps)
    framing = fm.Framing(face_width=(0.52, 0.62), centre_x=(0.45, 0.55), centre_y=(0.50, 0.56),
                         light=0.10, gain=(1.05, 1.20), gamma=(0.75, 0.90), gray=True)
    return _Style(config.samm_size, framing, config.samm_noise, True, config.samm_jpeg_quality, config.fps)


def au_profile(first: int, onset: int, apex: int, offset: int, last: int) -> np.ndarray:
    """Amplitude per frame ``first..last``: 0 outside onset..offset, raised cosine rising to 1
    at apex and falling back to 0 at offset (``apex == onset`` or ``== offset``: a step)."""
    n = np.arange(first, last + 1, dtype=np.float64)
    out = np.zeros_like(n)
    rise = (n >= onset) & (n <= apex)
    out[rise] = 0.5 * (1 - np.cos(np.pi * (n[rise] - onset) / max(apex - onset, 1)))
    out[n == apex] = 1.0
    fall = (n > apex) & (n <= offset)
    out[fall] = 0.5 * (1 + np.cos(np.pi * (n[fall] - apex) / max(offset - apex, 1)))
    return out


@functools.lru_cache(maxsize=256)
def _au_geometry(seed: int, subject: str, spread: float) -> Any:
    """The subject's own way of performing each AU (same for all its clips)."""
    from merkit.data import _face_model as fm

    return fm.draw_au_geometry(_rng(seed, "au-geometry", subject), spread)


def _au_truth(row: dict, seed: int, config: SyntheticConfig) -> list[dict[str, Any]]:
    """Each true AU of a clip with its own timing and intensity (around the clip's frames).

    The first AU of the strongest intensity defines the annotated frames (its onset, apex and
    offset are the clip's); the others start up to 35 % of the rise later, peak within
    +-15 % of the rise of the clip's apex and end up to 30 % of the fall earlier (times
    ``config.au_timing``).  ``gain`` multiplies the AU's motion table: intensity x the clip's
    per-AU gain x the clip's amplitude x the subject's AU geometry gain.
    """
    from merkit.data import _face_model as fm

    rng = _rng(seed, "au-timing", row["subject"], row["clip"])
    geometry = _au_geometry(seed, row["subject"], config.subject_spread)
    onset, apex, offset = row["onset"], row["apex"], row["offset"]
    rise, fall = apex - onset, offset - apex
    letters = [level or str(rng.choice(_INTENSITIES, p=_INTENSITY_P))
               for _, _, level in row["au_spec"]]
    lead = int(np.argmax([fm.INTENSITY_GAIN[x] for x in letters]))
    out = []
    for k, ((au, side, _), letter, gain) in enumerate(zip(row["au_spec"], letters, row["au_gains"],
                                                           strict=True)):
        jitter = config.au_timing if k != lead else 0.0
        a_on = onset + int(round(rng.uniform(0.0, 0.35) * rise * jitter))
        a_ap = apex + int(round(rng.normal(0.0, 0.15) * rise * jitter))
        a_ap = int(np.clip(a_ap, a_on + 2, offset - 2))
        a_off = offset - int(round(rng.uniform(0.0, 0.30) * fall * jitter))
        a_off = int(max(a_off, a_ap + 2))
        out.append({"au": int(au), "side": side, "intensity": letter,
                    "gain": float(fm.INTENSITY_GAIN[letter] * gain * row["amplitude"]
                                  * geometry.gain(au)),
                    "onset": a_on, "apex": a_ap, "offset": a_off})
    return out


def _blinks(n: int, fps: float, config: SyntheticConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Eyelid closure per frame ``(n,)`` and the blinks ``[(start, peak, end), ...]`` (frame
    indices, may lie outside the clip) at ``fps`` frames per second: a Poisson process at
    ``blink_rate`` per second; each
    blink lasts 150–300 ms, closes in its first 30 % to 60–100 % closure, reopens slower."""
    closure = np.zeros(n)
    events = []
    if config.blink_rate <= 0:
        return closure, events
    t = -0.3 * fps  # a blink that began before the first frame may still be under way
    while True:
        t += rng.exponential(fps / config.blink_rate)
        if t >= n:
            break
        length = rng.uniform(0.15, 0.30) * fps
        depth = rng.uniform(0.6, 1.0)
        start, peak, end = t, t + 0.3 * length, t + length
        if end < 0:
            continue
        frames = np.arange(n, dtype=np.float64)
        shape = np.where(frames <= peak, (frames - start) / (peak - start),
                         (end - frames) / (end - peak))
        part = depth * np.clip(shape, 0.0, 1.0)
        if part.max() > 0:  # only blinks that close the lids on a written frame are recorded
            closure = np.maximum(closure, part)
            events.append((int(round(start)), int(round(peak)), int(round(end))))
    return closure, events


def _motion(row: dict, config: SyntheticConfig, style: _Style, seed: int, attempt: int) -> Any:
    """The clip's :class:`~merkit.data._face_model.ClipMotion` (and its blinks, in the motion's
    ``blink`` row): per-AU profiles from ``row["au_truth"]``, head sway and an expression-locked
    head movement, blinks, a moving local light, flicker and noise."""
    from merkit.data import _face_model as fm

    rng = _rng(seed, "motion", row["subject"], row["clip"], attempt)
    first, onset, apex, offset, last = (row[k] for k in
                                        ("first_frame", "onset", "apex", "offset", "last_frame"))
    n = last - first + 1
    # head sway: an AR(1) (Ornstein-Uhlenbeck) process from rest, stationary std 0.15 px / 0.05
    # deg, correlation 0.8 per frame; it sways but does not drift away like a random walk
    sigma = np.array([0.15, 0.15, 0.05]) * config.head_motion
    kicks = rng.normal(0.0, 1.0, size=(n, 3)) * sigma * np.sqrt(1 - _HEAD_RHO**2)
    head = np.zeros((n, 3))
    for t in range(1, n):
        head[t] = _HEAD_RHO * head[t - 1] + kicks[t]
    # and a movement inside onset->apex: 1–3 px and 0.5–2 deg, partly undone by offset
    angle = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(1.0, 3.0) * config.head_motion
    roll = rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0]) * config.head_motion
    ramp = au_profile(first, onset, apex, offset, last)
    back = rng.uniform(0.0, 1.0)
    after = np.arange(first, last + 1) > apex
    ramp = np.where(after, 1.0 - back * (1.0 - ramp), ramp)
    ramp[np.arange(first, last + 1) > offset] = 1.0 - back
    head += np.outer(ramp, [shift * np.cos(angle), shift * np.sin(angle), roll])
    truth = row["au_truth"]
    aus = tuple((t["au"], t["side"], t["gain"]) for t in truth)
    profiles = np.array([au_profile(first, t["onset"], t["apex"], t["offset"], last) for t in truth])
    blink, _ = _blinks(n, style.fps, config, _rng(seed, "blink", row["subject"], row["clip"]))
    # a soft light spot drifting across the face and changing in strength
    c0 = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)])
    c1 = c0 + rng.uniform(-0.15, 0.15, size=2)
    a0, a1 = rng.uniform(-1.0, 1.0, size=2) * config.local_light
    s = np.linspace(0.0, 1.0, n)
    spot = np.column_stack([c0[0] + (c1[0] - c0[0]) * s, c0[1] + (c1[1] - c0[1]) * s,
                            np.full(n, rng.uniform(0.25, 0.5)), a0 + (a1 - a0) * s])
    jitter = (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03)),
              float(rng.uniform(-0.04, 0.04)), float(rng.normal(0.0, 1.0)))
    return fm.ClipMotion(
        aus=aus, profile=profiles.reshape(len(aus), n), jitter=jitter, head=head,
        flicker=1.0 + rng.normal(0.0, config.flicker, size=n), noise=style.noise,
        light=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
        blink=blink if blink.any() else None, spot=spot,
        geometry=_au_geometry(seed, row["subject"], config.subject_spread),
    )


def _detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


def _find_face(detector: Any, image: np.ndarray, points: np.ndarray) -> Any:
    """dlib HOG (upsample 1, the preprocessing default) face box around ``points``, or None."""
    rgb = np.ascontiguousarray(np.dstack([image] * 3) if image.ndim == 2 else image)
    centre = points.mean(axis=0)
    width = float(np.linalg.norm(points[16] - points[0]))
    for rect in detector(rgb, 1):
        cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
        if np.hypot(cx - centre[0], cy - centre[1]) < 0.3 * width:
            return rect
    return None


def _face_found(detector: Any, image: np.ndarray, points: np.ndarray) -> bool:
    """dlib HOG (upsample 1, the preprocessing default) finds a face around ``points``."""
    return _find_face(detector, image, points) is not None


def _jpeg_bytes(image: np.ndarray, params: list[int], what: str) -> bytes:
    """The JPEG file of ``image`` (RGB or grey uint8) written with ``params``; ``what`` names it
    in the error."""
    import cv2

    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise SyntheticDataError(f"JPEG encoding failed for {what}")
    return buf.tobytes()


def _jpeg_roundtrip(image: np.ndarray, params: list[int]) -> np.ndarray:
    """``image`` (RGB or grey uint8) as it reads back from its :func:`_jpeg_bytes` file."""
    import cv2

    data = np.frombuffer(_jpeg_bytes(image, params, "a checked frame"), np.uint8)
    if image.ndim == 2:
        return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


#: The cast file (:mod:`merkit.data.synthetic_cast` writes it), beside this module.
CAST_FILE = Path(__file__).with_name("synthetic_cast.json")
#: The random stream of each data set's identity pool: candidate ``key`` of the pool is drawn
#: by ``_rng(0, "identity", _CAST_STREAM[dataset], key)`` in the data set's framing (the
#: stream generator v6 drew the data set's first subject's candidates from).
_CAST_STREAM = {"casme2": "casme2/sub01", "samm": "samm/006", "smic": "smic/s1"}


@functools.cache
def _cast() -> dict[str, tuple[int, ...]]:
    """Each data set's cast (pool keys of the identities its subjects may wear), read from
    :data:`CAST_FILE`; a file that is missing or does not match this generator raises
    :class:`SyntheticDataError` saying how to rebuild it."""
    fix = "rebuild it with `python -m merkit.data.synthetic_cast --write` (about 17 min, 2 cores)"
    try:
        data = read_json(CAST_FILE)
        members = {name: tuple(int(k) for k in keys) for name, keys in data["members"].items()}
        version = data["face_model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SyntheticDataError(f"{CAST_FILE}: unreadable cast ({exc}); {fix}") from exc
    from merkit.data import _face_model as fm

    if version != fm.FACE_MODEL_VERSION:
        raise SyntheticDataError(f"{CAST_FILE}: searched for face model {version!r}, this is "
                                 f"{fm.FACE_MODEL_VERSION!r}; {fix}")
    missing = sorted(set(synthetic_datasets()) - set(members))
    if missing:
        raise SyntheticDataError(f"{CAST_FILE}: no cast for {missing}; {fix}")
    return members


def _candidate_keys(dataset: str, index: int, n_subjects: int, seed: int,
                    config: SyntheticConfig) -> list[int]:
    """The cast keys the ``index``-th of a data set's ``n_subjects`` subjects may wear.

    The cast in a seeded order, read as a ring: subject ``index`` gets
    ``config.identity_candidates`` consecutive keys from position ``index * stride`` (stride
    ``len(cast) // n_subjects``), so neighbours share some candidates and each key is offered
    to a few subjects (the choice then gives it to one at most).
    """
    cast = _cast()[dataset]
    order = _rng(seed, "cast", dataset).permutation(len(cast))
    stride = max(1, len(cast) // max(1, n_subjects))
    return [cast[order[(index * stride + i) % len(cast)]]
            for i in range(min(config.identity_candidates, len(cast)))]


def _candidate(dataset: str, key: int, config: SyntheticConfig) -> tuple[Any, Any]:
    """Pool identity ``key`` of ``dataset`` and its rendered face (:data:`_CAST_STREAM`)."""
    from merkit.data import _face_model as fm

    style = registry.get_dataset(dataset).synthetic_generator().style(config)
    rng = _rng(0, "identity", _CAST_STREAM[dataset], key)
    identity = fm.draw_identity(rng, style.framing, len(fm.load_templates()))
    return identity, fm.subject_face(identity)


def _identity_encodings(row: dict, seed: int, config: SyntheticConfig,
                        keys: Sequence[int]) -> list[list[float] | None]:
    """dlib's ResNet encoding (128 floats) of each cast member ``keys`` (:func:`_candidate`) on
    a subject's frame, read as the identity check reads it, or None when the HOG detector
    misses it (a worker task; :mod:`merkit.data.synthetic_cast` encodes its pool with it too).

    ``row``: the subject's first clip in plan order.  Each candidate renders that clip's onset
    frame (placement attempt 0, the clip's own noise stream) and reads it back through the
    set's JPEG: the frame face_recognition sees when the written set is checked, so the choice
    and the check agree (a still render sits about 0.02 from it).
    """
    import cv2

    from merkit.data import _face_model as fm

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
            import face_recognition
        dataset, subject = row["dataset"], row["subject"]
        style = registry.get_dataset(dataset).synthetic_generator().style(config)
        params = [cv2.IMWRITE_JPEG_QUALITY, int(style.jpeg_quality)]
        onset = row["onset"] - row["first_frame"]
        motion = _motion(row, config, style, seed, 0)
        detector = _detector()
        out: list[list[float] | None] = []
        for key in keys:
            identity, face = _candidate(dataset, key, config)
            frames, points = fm.render_clip(identity, face, motion, style.size,
                                            _rng(seed, "noise", subject, row["clip"]),
                                            gray=style.gray, amplitude=config.au_amplitude,
                                            frames=slice(onset, onset + 1))
            image = _jpeg_roundtrip(frames[0], params)
            rect = _find_face(detector, image, points[0])
            if rect is None:
                out.append(None)
                continue
            rgb = np.ascontiguousarray(np.dstack([image] * 3) if style.gray else image)
            box = (rect.top(), rect.right(), rect.bottom(), rect.left())
            enc = face_recognition.face_encodings(rgb, known_face_locations=[box])
            out.append([float(v) for v in enc[0]] if enc else None)
        return out
    finally:
        cv2.setNumThreads(threads)


def _choose_identities(subjects: Sequence[dict], seed: int, config: SyntheticConfig,
                       n_jobs: int, progress: bool) -> dict[str, dict[str, Any]]:
    """One identity per subject, the subjects as distinct as can be to dlib's face recognizer.

    ``subjects``: each subject's first clip (a :func:`plan` row), in plan order.  Each subject
    has ``config.identity_candidates`` cast members (:func:`_candidate_keys`), each encoded on
    that clip's onset frame as written (:func:`_identity_encodings`); those whose face the HOG
    detector misses there are dropped, and :func:`select_distinct` picks one per subject (a
    cast member for one subject at most) so that as many subject pairs as it can find lie at
    least ``config.identity_distance`` apart in dlib's ResNet encoding, stage by stage
    (:attr:`SyntheticSpec.identity_stage`: the SMIC-like subjects are chosen with the
    CASME-like and SAMM-like choices fixed).  The encodings are a deterministic function of
    (seed, subject, key) and the choice a function of the encodings, so it does not depend on
    ``n_jobs``.  Returns ``{subject: {"key", "encoding", "distance", "distinct"}}``: the
    distance to the nearest other subject and whether it reaches ``identity_distance``.
    """
    counts = Counter(r["dataset"] for r in subjects)
    index: Counter[str] = Counter()
    keys: list[list[int]] = []
    for r in subjects:
        keys.append(_candidate_keys(r["dataset"], index[r["dataset"]], counts[r["dataset"]],
                                    seed, config))
        index[r["dataset"]] += 1
    if not config.detect_check:
        return {r["subject"]: {"key": ks[0], "encoding": None, "distance": None, "distinct": None}
                for r, ks in zip(subjects, keys, strict=True)}
    if n_jobs > 1 and len(subjects) > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(_worker("_identity_encodings"))(r, seed, config, k)
            for r, k in zip(subjects, keys, strict=True))
    else:
        results = [_identity_encodings(r, seed, config, k) for r, k in zip(subjects, keys, strict=True)]
    vectors: list[list[float]] = []
    labels: list[tuple[str, int]] = []
    pools: list[list[int]] = []
    for r, ks, encs in zip(subjects, keys, results, strict=True):
        pool = []
        for key, enc in zip(ks, encs, strict=True):
            if enc is not None:
                pool.append(len(vectors))
                vectors.append(enc)
                labels.append((r["dataset"], key))
        if not pool:
            raise SyntheticDataError(f"{r['subject']}: the HOG detector finds none of its "
                                     f"{len(ks)} cast candidates on its first onset frame; "
                                     "raise SyntheticConfig.identity_candidates")
        pools.append(pool)
    from scipy.spatial.distance import cdist

    matrix = np.asarray(vectors)
    dist = cdist(matrix, matrix)
    stages = [registry.get_dataset(r["dataset"]).synthetic_generator().identity_stage for r in subjects]
    picks = select_distinct(dist, pools, labels, config.identity_distance, stages)
    out: dict[str, dict[str, Any]] = {}
    for j, r in enumerate(subjects):
        gaps = np.delete(dist[picks[j], picks], j)
        gap = float(gaps.min()) if len(gaps) else np.inf
        out[r["subject"]] = {"key": labels[picks[j]][1],
                             "encoding": [round(float(v), 6) for v in matrix[picks[j]]],
                             "distance": round(gap, 4) if np.isfinite(gap) else None,
                             "distinct": bool(gap >= config.identity_distance)}
        if progress:
            print(f"  identity {j + 1}/{len(subjects)} {r['subject']}: cast key {labels[picks[j]][1]}",
                  file=sys.stderr, flush=True)
    return out


#: Most rounds of coordinate ascent in :func:`_ascend`.
_SELECT_ROUNDS = 8


def select_distinct(dist: np.ndarray, pools: Sequence[Sequence[int]], labels: Sequence[Any],
                    distance: float, stages: Sequence[int] | None = None) -> list[int]:
    """One candidate per pool, as many chosen pairs at least ``distance`` apart as it finds.

    ``dist``: ``(N, N)`` distances between all candidates; ``pools``: each slot's candidates
    (row indices of ``dist``); ``labels``: per candidate, what only one slot may take (two
    slots never choose candidates of equal label); ``stages``: per slot, when it is chosen
    (default: all at once): the slots of a later stage are chosen with the earlier stages'
    choices fixed, which a later stage therefore never changes (:func:`_ascend` per stage).
    Returns the chosen row index of each slot.
    """
    stages = list(stages) if stages is not None else [0] * len(pools)
    picks = [-1] * len(pools)
    done: list[int] = []
    for stage in sorted(set(stages)):
        mine = [j for j, s in enumerate(stages) if s == stage]
        chosen = _ascend(dist, [[picks[j]] for j in done] + [pools[j] for j in mine], labels,
                         distance)
        for j, k in zip(mine, chosen[len(done):], strict=True):
            picks[j] = k
        done += mine
    return picks


def _ascend(dist: np.ndarray, pools: Sequence[Sequence[int]], labels: Sequence[Any],
            distance: float) -> list[int]:
    """:func:`select_distinct` for one stage (a one-candidate pool fixes its slot).  A greedy
    pass in order (each slot's free candidate farthest from the earlier choices; the first
    slot takes its first), then rounds of coordinate ascent: each slot in turn takes the free
    candidate with the most other choices at least ``distance`` away, ties broken by the larger
    sum of distances clipped at ``distance``, then by the earlier candidate; it stops when a
    round changes nothing.
    """
    codes: dict[Any, int] = {}
    lab = np.array([codes.setdefault(label, len(codes)) for label in labels])
    arrays = [np.asarray(pool, dtype=int) for pool in pools]

    def free(j: int, others: Sequence[int]) -> np.ndarray:
        cands = arrays[j][~np.isin(lab[arrays[j]], lab[list(others)])]
        if not len(cands):
            raise SyntheticDataError(f"slot {j}: every candidate's label is taken by another "
                                     "slot; give the slots more candidates")
        return cands

    picks: list[int] = []
    for j in range(len(arrays)):
        cands = free(j, picks)
        if not picks:
            picks.append(int(cands[0]))
            continue
        picks.append(int(cands[np.argmax(dist[np.ix_(cands, picks)].min(axis=1))]))
    for _ in range(_SELECT_ROUNDS):
        changed = False
        for j in range(len(arrays)):
            others = picks[:j] + picks[j + 1:]
            if not others:
                break
            cands = free(j, others)
            d = dist[np.ix_(cands, others)]
            score = (d >= distance).sum(axis=1) + np.minimum(d, distance).sum(axis=1) / (
                distance * len(others) + 1.0)
            best = int(np.argmax(score))
            current = score[int(np.flatnonzero(cands == picks[j])[0])]
            if score[best] > current + 1e-12:
                picks[j] = int(cands[best])
                changed = True
        if not changed:
            break
    return picks


def _casme_frame_path(row: dict, number: int) -> str:
    return f"{CASME_FRAMES}/{row['folder']}/{row['clip']}/img{number}.jpg"


def _samm_frame_path(row: dict, number: int) -> str:
    return f"{row['folder']}/{row['clip']}/{row['folder']}_{number:05d}.jpg"


def _smic_frame_path(row: dict, number: int) -> str:
    # SMIC-HS ships .bmp frames; the stand-in writes JPEG (the loader reads either)
    return f"HS/{row['folder']}/micro/{row['emotion']}/{row['clip']}/image{number:07d}.jpg"


def _render_subject(rows: list[dict], seed: int, config: SyntheticConfig, root: str,
                    key: int) -> dict:
    """Render and write every clip of one subject (a worker task); return their records."""
    import cv2

    from merkit.data import _face_model as fm

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        dataset, subject = rows[0]["dataset"], rows[0]["subject"]
        entry = registry.get_dataset(dataset)
        spec: SyntheticSpec = entry.synthetic_generator()
        style = spec.style(config)
        detector = _detector() if config.detect_check else None
        identity, face = _candidate(dataset, key, config)
        out: dict[str, Any] = {"subject": subject, "identity": identity,
                               "identity_key": key, "clips": {}}
        params = [cv2.IMWRITE_JPEG_QUALITY, int(style.jpeg_quality)]
        for row in rows:
            checked = (row["onset"] - row["first_frame"], row["apex"] - row["first_frame"])
            for attempt in range(20):
                motion = _motion(row, config, style, seed, attempt)
                noise_rng = _rng(seed, "noise", subject, row["clip"])
                fields = fm.clip_fields(identity, face, motion, style.size, config.au_amplitude)
                frames, points = fm.render_clip(identity, face, motion, style.size, noise_rng,
                                                gray=style.gray, fields=fields)
                # checked as written (JPEG), as face_detection_rate reads them
                if detector is None or all(
                        _face_found(detector, _jpeg_roundtrip(frames[i], params), points[i])
                        for i in checked):
                    break
            else:
                raise SyntheticDataError(f"{subject}/{row['clip']}: no detectable placement")
            regions = fm.au_regions(identity, face, motion, style.size, checked[1], fields=fields)
            _, blinks = _blinks(len(frames), style.fps, config, _rng(seed, "blink", subject, row["clip"]))
            files = []
            for number, image in zip(range(row["first_frame"], row["last_frame"] + 1), frames,
                                     strict=True):
                rel = f"{entry.synthetic_dir}/{spec.frame_path(row, number)}"
                target = Path(root) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                data = _jpeg_bytes(image, params, rel)
                target.write_bytes(data)
                files.append((rel, len(data), hashlib.sha256(data).hexdigest()))
            first = row["first_frame"]
            out["clips"][row["clip"]] = {
                "landmarks": points, "files": files, "placement_attempts": attempt,
                "regions": regions,
                "blinks": [[first + a, first + b, first + c] for a, b, c in blinks],
                "head_at_apex": [round(float(v), 4) for v in motion.head[checked[1]]],
            }
        return out
    finally:
        cv2.setNumThreads(threads)


# --------------------------------------------------------------------------- spreadsheets

_FIXED_DATE = (2014, 5, 8, 0, 0, 0)


def _workbook_bytes(sheet_title: str, rows: Sequence[Sequence[Any]]) -> bytes:
    """An .xlsx with ``rows`` on one sheet, byte-for-byte reproducible (fixed dates)."""
    import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_title
    for row in rows:
        ws.append(list(row))
    fixed = datetime.datetime(*_FIXED_DATE)
    wb.properties.creator = "merkit.data.synthetic"
    wb.properties.created = fixed
    buffer = io.BytesIO()
    wb.save(buffer)
    # openpyxl stamps "modified" with the current time and zip entries with the current date
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    stamp = fixed.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(r"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rf"\g<1>{stamp}\g<2>", text)
                data = text.encode("utf-8")
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, data)
    return out.getvalue()


def _casme_sheets(rows: list[dict]) -> dict[str, bytes]:
    coding: list[Sequence[Any]] = [("Subject", "Filename", None, "OnsetFrame", "ApexFrame",
                                    "OffsetFrame", None, "Action Units", "Estimated Emotion")]
    for r in sorted(rows, key=lambda r: (r["subject_id"], r["clip"])):
        coding.append((r["subject_id"], r["clip"], None, r["onset"],
                       "/" if r["apex_estimated"] else r["apex"], r["offset"], None,
                       r["aus_cell"], r["emotion"]))
    objective: list[Sequence[Any]] = [("Subject", "Filename", "Objective Class")]
    for r in sorted(rows, key=lambda r: (r["objective_class"], r["subject_id"], r["clip"])):
        objective.append((r["folder"], r["clip"], r["objective_class"]))
    return {CASME_CODING: _workbook_bytes("Sheet1", coding),
            CASME_OBJECTIVE: _workbook_bytes("Sheet1", objective)}


def _samm_sheet(rows: list[dict]) -> dict[str, bytes]:
    preamble: list[Sequence[Any]] = [
        ("SAMM Micro-Movement FACS Codes (v2 layout)",),
        ("SYNTHETIC: generated by merkit.data.synthetic; not the SAMM data set.",),
        (),
        ("Frame numbers are those in the frame file names (5 digits).",),
        ("Onset/Apex/Offset Frame: first, peak and last frame of the movement.",),
        ("Duration: Offset Frame - Onset Frame + 1.",),
        ("Action Units: FACS codes; L/R = side, A-E = intensity.",),
        ("Objective Classes: Davison et al. 2018, I-VII as 1-7.",),
    ]
    preamble += [()] * (SAMM_HEADER_ROW - 1 - len(preamble))
    header = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
              "Offset Frame", "Duration", "Type", "Action Units", "Estimated Emotion",
              "Objective Classes", "Notes")
    body = [
        (r["subject_cell"], r["clip"], int(r["inducement"]), r["onset"], r["apex"], r["offset"],
         r["offset"] - r["onset"] + 1, "Micro - 1/2", r["aus_cell"], r["emotion"],
         r["objective_class"], "synthetic")
        for r in sorted(rows, key=lambda r: (r["subject_id"], r["clip"]))
    ]
    rows_out = [*preamble, header, *body]
    # openpyxl's append() skips nothing: an empty tuple still writes an (empty) row
    return {SAMM_FILE: _workbook_bytes("SAMM", rows_out)}


# --------------------------------------------------------------------------- data sets


@dataclass(frozen=True)
class SyntheticSpec:
    """How one registered data set's synthetic stand-in is planned, rendered and written.

    A registry entry's ``synthetic`` reference points at one of these; :func:`generate` writes
    every registered stand-in into ``out_dir / entry.synthetic_dir``. Paths returned by
    ``frame_path`` and the keys of ``sheets`` are relative to that folder.

    ``plan(scale, seed, config)``: the clip rows (the columns of :func:`plan`), each drawn from
    generators seeded by ``(seed, names)`` only; ``style(config)``: frame size, framing
    ranges, noise and colour; ``frame_path(row, number)``: a frame file; ``sheets(rows)``: the
    annotation files' bytes (reproducible: fixed dates); ``identity_stage``: see the field.
    """

    plan: Callable[[str, int, SyntheticConfig], list[dict]]
    style: Callable[[SyntheticConfig], _Style]
    frame_path: Callable[[dict, int], str]
    sheets: Callable[[list[dict]], dict[str, bytes]]
    #: identities of a later stage are chosen given those of the earlier stages (fixed), so a
    #: data set added later never changes the faces of the sets before it
    identity_stage: int = 0


#: The CASME II stand-in (registry entry ``casme2``): colour frames, two spreadsheets.
CASME2_SPEC = SyntheticSpec(
    plan=functools.partial(_plan_dataset, "casme2"),
    style=functools.partial(_style, "casme2"),
    frame_path=_casme_frame_path,
    sheets=_casme_sheets,
)

#: The SAMM stand-in (registry entry ``samm``): grayscale frames, one spreadsheet.
SAMM_SPEC = SyntheticSpec(
    plan=functools.partial(_plan_dataset, "samm"),
    style=functools.partial(_style, "samm"),
    frame_path=_samm_frame_path,
    sheets=_samm_sheet,
)


def _no_sheets(rows: list[dict]) -> dict[str, bytes]:
    return {}


#: The SMIC-HS stand-in (registry entry ``smic``): colour frames at 100 fps in the SMIC-HS
#: folders, no annotation file (the class is the folder); identities chosen after the others'.
SMIC_SPEC = SyntheticSpec(
    plan=_plan_smic,
    style=functools.partial(_style, "smic"),
    frame_path=_smic_frame_path,
    sheets=_no_sheets,
    identity_stage=1,
)


def _sheets(rows: list[dict]) -> dict[str, bytes]:
    """Every stand-in's annotation files, keyed by their path relative to the set's root."""
    out: dict[str, bytes] = {}
    for entry in entries():
        mine = [r for r in rows if r["dataset"] == entry.name]
        for name, data in entry.synthetic_generator().sheets(mine).items():
            out[f"{entry.synthetic_dir}/{name}"] = data
    return out


# --------------------------------------------------------------------------- generate


def default_dir(scale: str = "full", variant: str = "standard") -> Path:
    """Where a set is generated by default: ``paths.synthetic_dir() / scale`` for the standard
    variant, ``.../f"{scale}-{variant}"`` otherwise (so a variant never replaces the standard)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    return paths.synthetic_dir() / (scale if variant == "standard" else f"{scale}-{variant}")


def _fingerprint_key(seed: int, scale: str, config: SyntheticConfig) -> dict[str, Any]:
    """What identifies a set's bytes, as it reads back from JSON (tuples become lists): with
    the cast's hash, so a set drawn from another cast file is not served as this one's."""
    key = {"generator": "merkit.data.synthetic", "version": GENERATOR_VERSION, "seed": int(seed),
           "scale": scale, "config": config.key(), "config_hash": stable_hash(config.key()),
           "cast": stable_hash({name: list(keys) for name, keys in _cast().items()})}
    return json.loads(to_json(key))


def _read_marker(out_dir: Path) -> dict[str, Any] | None:
    try:
        marker = read_json(out_dir / MARKER)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_complete(out_dir: str | os.PathLike[str], seed: int = 0, scale: Scale = "full",
                config: SyntheticConfig | None = None, *, verify: bool = False) -> bool:
    """Whether ``out_dir`` holds a complete synthetic set of this version, seed, scale, config.

    Checks ``FINGERPRINT.json`` and that every file it lists exists with its size;
    ``verify=True`` also re-hashes every file (slower).
    """
    out_dir = Path(out_dir)
    marker = _read_marker(out_dir)
    if marker is None:
        return False
    expected = _fingerprint_key(seed, scale, config or SyntheticConfig())
    if any(marker.get(k) != v for k, v in expected.items()):
        return False
    for rel, (size, digest) in marker.get("files", {}).items():
        path = out_dir / rel
        try:
            if path.stat().st_size != size:
                return False
        except OSError:
            return False
        if verify and file_fingerprint(path) != digest:
            return False
    return bool(marker.get("files"))


def fingerprint(out_dir: str | os.PathLike[str]) -> str:
    """The data fingerprint of a complete synthetic set (hash over every file's SHA-256)."""
    marker = _read_marker(Path(out_dir))
    if marker is None or "fingerprint" not in marker:
        raise SyntheticDataError(
            f"{out_dir} holds no complete synthetic data set ({MARKER} missing); run "
            "merkit.data.synthetic.generate() or `make data`"
        )
    return str(marker["fingerprint"])


def _check_replaceable(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder; choose another out_dir")
    if (out_dir / MARKER).is_file() and set(os.listdir(out_dir)) <= _own_entries():
        return  # an older synthetic set (other seed/scale/config/version): ours to replace
    if any(out_dir.iterdir()):
        raise FileExistsError(
            f"{out_dir} exists, is not empty and is not a complete synthetic data set written by "
            f"merkit (no {MARKER}); it is left untouched. Remove it yourself or choose another "
            "out_dir (it could hold real data)."
        )


    return True


def _clean_stale(out_dir: Path) -> None:
    """Remove temporary folders of killed runs (``.<name>.partial-<pid>-...``) beside out_dir."""
    if not out_dir.parent.is_dir():
        return
    for entry in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        match = re.match(rf"\.{re.escape(out_dir.name)}\.partial-(\d+)-", entry.name)
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _worker(name: str) -> Callable[..., Any]:
    """A worker task by its importable name (``python -m merkit.data.synthetic`` runs this file
    as ``__main__``, whose functions the worker processes cannot import)."""
    import importlib

    return getattr(importlib.import_module("merkit.data.synthetic"), name)


def _run_tasks(tasks: list[list[dict]], seed: int, config: SyntheticConfig, root: Path,
               n_jobs: int, progress: bool, keys: dict[str, int]) -> list[dict]:
    if n_jobs <= 1 or len(tasks) <= 1:
        results = []
        for i, task in enumerate(tasks):
            results.append(_render_subject(task, seed, config, str(root),
                                           keys[task[0]["subject"]]))
            if progress:
                print(f"  {i + 1}/{len(tasks)} subjects", file=sys.stderr, flush=True)
        return results
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=n_jobs, backend="loky", verbose=5 if progress else 0)(
        delayed(_worker("_render_subject"))(task, seed, config, str(root), keys[task[0]["subject"]])
        for task in tasks
    ))


def generate(
    out_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    scale: Scale = "full",
    config: SyntheticConfig | None = None,
    *,
    force: bool = False,
    verify: bool = False,
    progress: bool = False,
) -> Path:
    """Write the synthetic data set to ``out_dir`` (default :func:`default_dir`).

    A no-op when ``out_dir`` already holds a complete set with the same generator version,
    ``seed``, ``scale`` and ``config`` (``verify=True`` re-hashes its files first; ``force=True``
    regenerates anyway).  Otherwise the set is built in a temporary sibling folder and renamed
    into place, replacing an older synthetic set there; a non-empty folder that is not a
    synthetic set raises :class:`FileExistsError`.  Returns ``out_dir``.
    """
    _check_scale(scale)
    config = config or SyntheticConfig()
    out_dir = Path(out_dir) if out_dir is not None else default_dir(scale, config.variant)
    out_dir = out_dir.expanduser().resolve()
    if not force and is_complete(out_dir, seed, scale, config, verify=verify):
        return out_dir
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        # a concurrent run (another notebook, another test worker) may have finished meanwhile
        if not force and is_complete(out_dir, seed, scale, config):
            return out_dir
        _check_replaceable(out_dir)
        _clean_stale(out_dir)
        _build(out_dir, seed, scale, config, progress)
    return out_dir


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``out_dir`` (POSIX; no-op elsewhere),
    so concurrent ``generate`` calls build the set once and the others wait for it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(out_dir.parent / f".{out_dir.name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _build(out_dir: Path, seed: int, scale: str, config: SyntheticConfig, progress: bool) -> None:
    """Render the set into a temporary sibling folder, fingerprint it, rename it into place."""
    table = plan(scale, seed, config)
    rows = table.to_dict("records")
    by_subject: dict[str, list[dict]] = {}
    for r in rows:
        by_subject.setdefault(r["subject"], []).append(r)
    # largest subjects first: better load balance across workers
    tasks = sorted(by_subject.values(), key=lambda t: (-len(t), t[0]["subject"]))

    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        reused = _standard_frames(out_dir, seed, scale, config, tmp)
        if reused is not None:  # a variant: the standard set's frames, identities and records
            identities, results = reused
            if progress:
                print(f"  frames of the standard set reused for the {config.variant!r} variant",
                      file=sys.stderr, flush=True)
        else:
            # worker start-up (imports, templates) costs more than a small set takes to render
            n_jobs = config.n_jobs if len(rows) > 60 else 1
            firsts: dict[str, dict] = {}  # each subject's first clip, in plan order
            for r in rows:
                firsts.setdefault(r["subject"], r)
            identities = _choose_identities(list(firsts.values()), seed, config, n_jobs, progress)
            keys = {name: rec["key"] for name, rec in identities.items()}
            results = _run_tasks(tasks, seed, config, tmp, n_jobs, progress, keys)
        by_name = {res["subject"]: res for res in results}

        files: dict[str, tuple[int, str]] = {}
        written = _sheets(rows)
        clips_out = []
        landmarks = []
        cursor = 0
        for r in rows:  # plan order: dataset, subject, clip
            res = by_name[r["subject"]]["clips"][r["clip"]]
            for rel, size, digest in res["files"]:
                files[rel] = (size, digest)
            n = len(res["landmarks"])
            landmarks.append(res["landmarks"])
            clips_out.append({
                "dataset": r["dataset"], "subject": r["subject"], "subject_id": r["subject_id"],
                "folder": r["folder"], "clip": r["clip"], "first_frame": r["first_frame"],
                "onset": r["onset"], "apex": r["apex"], "offset": r["offset"],
                "last_frame": r["last_frame"], "apex_estimated": r["apex_estimated"],
                "aus": list(r["aus"]), "au_spec": [list(s) for s in r["au_spec"]],
                "aus_cell": r["aus_cell"], "coded_aus": list(r["coded_aus"]),
                "coded_spec": [list(s) for s in r["coded_spec"]],
                "coder_errors": [list(e) for e in r["coder_errors"]], "coded_from": r["coded_from"],
                "objective_class": r["objective_class"],
                "emotion": r["emotion"], "amplitude": r["amplitude"],
                "frame_files": [rel for rel, _, _ in res["files"]],
                "landmarks_rows": [cursor, cursor + n],
                "placement_attempts": res["placement_attempts"],
                "au_truth": [{**t, "region": region}
                             for t, region in zip(r["au_truth"], res["regions"], strict=True)],
                "blinks": res["blinks"], "head_at_apex": res["head_at_apex"],
            })
            cursor += n
        subjects = {
            name: {"identity": (res["identity"] if isinstance(res["identity"], dict)
                                else dataclasses.asdict(res["identity"])),
                   "identity_key": res["identity_key"],
                   "identity_encoding": identities[name]["encoding"],
                   "identity_distance": identities[name]["distance"],
                   "identity_distinct": identities[name]["distinct"],
                   "au_geometry": dataclasses.asdict(
                       _au_geometry(seed, name, config.subject_spread))}
            for name, res in sorted(by_name.items())
        }
        buffer = io.BytesIO()
        np.save(buffer, np.concatenate(landmarks).astype(np.float32), allow_pickle=False)
        written[LANDMARKS] = buffer.getvalue()
        key = _fingerprint_key(seed, scale, config)
        truth = {**key, "counts": _counts(table), "subjects": subjects, "clips": clips_out}
        written[GROUND_TRUTH] = (to_json(truth) + "\n").encode("utf-8")
        for rel, data in written.items():
            atomic_write(tmp / rel, data)
            files[rel] = (len(data), hashlib.sha256(data).hexdigest())
        digest = hashlib.sha256()
        for rel in sorted(files):
            digest.update(f"{rel}\0{files[rel][1]}\n".encode())
        marker = {**key, "fingerprint": digest.hexdigest()[:16], "n_clips": len(rows),
                  "n_files": len(files), "bytes": int(sum(s for s, _ in files.values())),
                  "files": {rel: list(files[rel]) for rel in sorted(files)}}
        write_json(tmp / MARKER, marker)  # last: the set is complete from here on

        if out_dir.exists():  # an older synthetic set (checked by the caller): swap it out
            trash = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-old"
            os.replace(out_dir, trash)
            os.replace(tmp, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def standard_sibling(out_dir: Path, scale: str, variant: str) -> Path | None:
    """Where the standard set of a variant's folder lies by :func:`default_dir`'s naming
    (``<parent>/<scale>-<variant>`` -> ``<parent>/<scale>``); None for the standard set."""
    if variant == "standard" or out_dir.name != f"{scale}-{variant}":
        return None
    return out_dir.with_name(scale)


def _standard_frames(out_dir: Path, seed: int, scale: str, config: SyntheticConfig,
                     tmp: Path) -> tuple[dict[str, dict[str, Any]], list[dict]] | None:
    """A variant's frames linked from its complete standard sibling, or None to render them.

    A variant (``"shuffled-aus"``) changes the sheets only: its frames, identities and
    per-clip records are those of the standard set of the same seed, scale and config, byte
    for byte.  When :func:`standard_sibling` holds that set and every file of it still has its
    recorded SHA-256 (``is_complete(..., verify=True)``: a corrupted standard set is never
    copied), its frames are hard-linked (copied across file systems) into ``tmp`` and the
    records :func:`_choose_identities` and :func:`_run_tasks` would return are read back from
    its ``ground_truth.json``, ``landmarks.npy`` and ``FINGERPRINT.json``; the variant then
    costs its sheets only.  ``tests/test_coder_noise.py`` checks the result equals a rendered
    variant's fingerprint.
    """
    standard = standard_sibling(out_dir, scale, config.variant)
    std_config = dataclasses.replace(config, variant="standard")
    if standard is None or not is_complete(standard, seed, scale, std_config, verify=True):
        return None
    marker = _read_marker(standard)
    truth = json.loads((standard / GROUND_TRUTH).read_text(encoding="utf-8"))
    landmarks = np.load(standard / LANDMARKS, allow_pickle=False)
    files = (marker or {})["files"]  # is_complete read it: it lists every file
    identities = {name: {"key": rec["identity_key"], "encoding": rec["identity_encoding"],
                         "distance": rec["identity_distance"], "distinct": rec["identity_distinct"]}
                  for name, rec in truth["subjects"].items()}
    results: dict[str, dict[str, Any]] = {
        name: {"subject": name, "identity": rec["identity"],
               "identity_key": rec["identity_key"], "clips": {}}
        for name, rec in truth["subjects"].items()}
    for clip in truth["clips"]:
        for rel in clip["frame_files"]:
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(standard / rel, target)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(standard / rel, target)
        a, b = clip["landmarks_rows"]
        results[clip["subject"]]["clips"][clip["clip"]] = {
            "landmarks": landmarks[a:b], "files": [(rel, *files[rel]) for rel in clip["frame_files"]],
            "placement_attempts": clip["placement_attempts"],
            "regions": [t["region"] for t in clip["au_truth"]],
            "blinks": clip["blinks"], "head_at_apex": clip["head_at_apex"]}
    return identities, list(results.values())


def _counts(table: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dataset, part in table.groupby("dataset"):
        core = part[part["objective_class"].isin(MEGC_CLASSES)]
        out[str(dataset)] = {
            "clips": len(part),
            "subjects": int(part["subject"].nunique()),
            "clips_I_V": len(core),
            "subjects_I_V": int(core["subject"].nunique()),
            "per_class": {str(k): int(v) for k, v in sorted(Counter(part["objective_class"]).items())},
        }
    return out


# --------------------------------------------------------------------------- reading back


def load_ground_truth(out_dir: str | os.PathLike[str] | None = None,
                      scale: Scale = "full", *, variant: str = "standard") -> pd.DataFrame:
    """The generator's ground truth: one row per clip, sorted by dataset, subject, clip.

    ``out_dir`` defaults to :func:`default_dir` ``(scale, variant)``.  Columns: ``dataset``,
    ``subject``, ``clip``, ``onset``, ``apex`` (true apex), ``offset``, ``apex_estimated``,
    ``aus`` (tuple, the TRUE AUs the frames show), ``objective_class``, ``emotion`` (lower case,
    as the loaders return it), ``first_frame``, ``last_frame``, ``au_spec`` (true), ``coded_aus``
    / ``coded_spec`` (what the sheet's AU cell says, the loaders' ``aus``), ``coder_errors``
    (tuple of ``(kind, au)``), ``coded_from`` (the clip whose codes the sheet gives it; see
    :func:`plan`), ``frames`` (absolute paths onset..offset, as the loaders), ``all_frames``
    (first..last), ``landmarks`` (``(last - first + 1, 68, 2)`` float32, ``(x, y)`` per frame
    first..last).  A set written before the sheets were coder-noisy reads back with the sheet
    equal to the truth (as it was written).
    """
    out_dir = Path(out_dir) if out_dir is not None else default_dir(scale, variant)
    if _read_marker(out_dir) is None:
        raise SyntheticDataError(
            f"{out_dir} holds no complete synthetic data set ({MARKER} missing); run "
            "merkit.data.synthetic.generate() or `make data`"
        )
    truth = read_json(out_dir / GROUND_TRUTH)
    marks = np.load(out_dir / LANDMARKS, allow_pickle=False)
    records = []
    for c in truth["clips"]:
        all_frames = tuple(out_dir / rel for rel in c["frame_files"])
        start = c["onset"] - c["first_frame"]
        lo, hi = c["landmarks_rows"]
        records.append({
            "dataset": c["dataset"], "subject": c["subject"], "clip": c["clip"],
            "onset": c["onset"], "apex": c["apex"], "offset": c["offset"],
            "apex_estimated": c["apex_estimated"], "aus": tuple(c["aus"]),
            "objective_class": c["objective_class"], "emotion": c["emotion"].lower(),
            "first_frame": c["first_frame"], "last_frame": c["last_frame"],
            "au_spec": tuple(tuple(s) for s in c["au_spec"]),
            "coded_aus": tuple(c.get("coded_aus", c["aus"])),
            "coded_spec": tuple(tuple(s) for s in c.get("coded_spec", c["au_spec"])),
            "coder_errors": tuple(tuple(e) for e in c.get("coder_errors", ())),
            "coded_from": c.get("coded_from", f"{c['subject']}/{c['clip']}"),
            "frames": all_frames[start:start + c["offset"] - c["onset"] + 1],
            "all_frames": all_frames, "landmarks": marks[lo:hi],
            "au_truth": tuple(c.get("au_truth", ())), "blinks": tuple(map(tuple, c.get("blinks", ()))),
            "head_at_apex": tuple(c.get("head_at_apex", (0.0, 0.0, 0.0))),
        })
    df = pd.DataFrame(records)
    return df.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)


def face_detection_rate(out_dir: str | os.PathLike[str] | None = None, scale: Scale = "full",
                        *, frame: Literal["onset", "apex"] = "onset",
                        limit: int | None = None) -> tuple[float, list[str]]:
    """Share of clips whose onset (or apex) frame dlib's HOG detector (upsample 1) finds a face
    in, around the ground-truth landmarks -> ``(rate, missed clip names)``."""
    import cv2

    truth = load_ground_truth(out_dir, scale)
    if limit is not None:
        truth = truth.iloc[:limit]
    detector = _detector()
    missed = []
    for row in truth.itertuples():
        number = row.onset if frame == "onset" else row.apex
        index = number - row.first_frame
        image = cv2.imread(str(row.all_frames[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read frame {row.all_frames[index]}")
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if not _face_found(detector, rgb, row.landmarks[index]):
            missed.append(f"{row.subject}/{row.clip}")
    return 1.0 - len(missed) / max(len(truth), 1), missed


def summary(table: pd.DataFrame) -> str:
    """A short text summary of a plan or ground-truth table (counts per data set and class)."""
    lines = []
    for dataset, part in table.groupby("dataset"):
        core = part[part["objective_class"].isin(MEGC_CLASSES)]
        per = Counter(part["objective_class"])
        lines.append(
            f"{dataset}: {len(part)} clips of {part['subject'].nunique()} subjects; classes I–V "
            f"{len(core)} clips of {core['subject'].nunique()} subjects; per class "
            + " ".join(f"{k}:{per[k]}" for k in sorted(per))
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m merkit.data.synthetic",
        description="Generate the embedded synthetic micro-expression data set "
                    "(CASME II and SAMM layouts).",
    )
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <MERKIT_DATA>/synthetic/<scale>)")
    parser.add_argument("--scale", choices=sorted(CLASS_COUNTS), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=VARIANTS, default="standard",
                        help="shuffled-aus: the same frames, the sheets' AU codes permuted "
                             "across clips (default folder <scale>-<variant>)")
    parser.add_argument("--jobs", type=int, default=SyntheticConfig().n_jobs,
                        help="worker processes (the output does not depend on it)")
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    parser.add_argument("--verify", action="store_true",
                        help="re-hash an existing set before accepting it as complete")
    parser.add_argument("--check-faces", action="store_true",
                        help="report the HOG face detection rate on the onset frames")
    parser.add_argument("--calibrate", action="store_true",
                        help="run the three reference probes (linear, null, oracle) with 95 %% "
                             "intervals, check the targets, write CALIBRATION.json into the set")
    parser.add_argument("--profile", default="quick",
                        help="whose flows and bootstrap --calibrate uses (default: quick)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    config = SyntheticConfig(n_jobs=args.jobs, variant=args.variant)
    out = args.out if args.out is not None else default_dir(args.scale, args.variant)
    done = is_complete(out, args.seed, args.scale, config, verify=args.verify) and not args.force
    start, cpu = time.perf_counter(), time.process_time()
    out = generate(out, seed=args.seed, scale=args.scale, config=config, force=args.force,
                   verify=args.verify, progress=True)
    marker = _read_marker(out) or {}
    state = "already complete" if done else (
        f"generated in {time.perf_counter() - start:.1f} s "
        f"(main-process CPU {time.process_time() - cpu:.1f} s)")
    print(f"{out}: {state}; {marker.get('n_files')} files, "
          f"{marker.get('bytes', 0) / 1e6:.1f} MB, fingerprint {marker.get('fingerprint')}")
    print(summary(load_ground_truth(out)))
    if args.check_faces:
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rate, missed = face_detection_rate(out)
        print(f"HOG face detection on onset frames: {rate:.2%}" + (
            f" (missed: {', '.join(missed[:10])})" if missed else ""))
    if args.calibrate:
        # the data layer's one upward import, declared in pyproject.toml's layers contract
        from merkit.reproduce import calibration

        print(calibration.command(out, profile=args.profile, recompute=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
