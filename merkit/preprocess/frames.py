"""Frame files -> RGB arrays, and RGB -> grayscale: the one decode path of every merkit stage.

Every stage that looks at pixels (face detection, occlusion synthesis, TV-L1 flow, the
handcrafted descriptors' volumes) reads a frame file with :func:`read_frame` and, where it
needs intensity, converts with :func:`to_gray`. So an occluded and an un-occluded clip differ
only by the occluder, never by how their frames were decoded, and the flows and the volumes of
one clip see the same gray values.

* :func:`read_frame`: :func:`merkit.io.read_image` (``mode="rgb"``): the file's structure is
  checked (a truncated JPEG or PNG is an error, not a half-decoded frame), then OpenCV decodes it
  as 3-channel BGR (``cv2.IMREAD_COLOR``; a grayscale file such as SAMM's is replicated to three
  equal channels), converted to RGB.
* :func:`to_gray`: ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` via
  ``cv2.COLOR_RGB2GRAY`` (uint8: OpenCV's rounded fixed-point arithmetic). A gray file read
  by :func:`read_frame` comes back exactly: equal channels have that luma.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from merkit.io import FrameError, read_image

__all__ = ["FrameError", "read_frame", "to_gray"]


def read_frame(path: str | Path, *, name: str = "clip") -> np.ndarray:
    """Read a frame file -> ``(H, W, 3)`` uint8 RGB (gray files replicated to 3 channels).

    ``name`` (the clip, e.g. ``"casme2/sub01/EP02_01f"``) is put in the error messages.
    Raises :class:`FrameError` (:class:`merkit.io.FrameError`) when the file is missing,
    truncated or cannot be decoded.
    """
    return read_image(Path(path), mode="rgb", name=name)


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB -> ``(H, W)`` ITU-R 601 luma (``cv2.COLOR_RGB2GRAY``), same dtype.

    ``image``: uint8 (as :func:`read_frame` returns; the result is uint8 in 0..255) or float32
    (any scale; the result is float32 on the same scale). An already gray ``(H, W)`` or
    ``(H, W, 1)`` image is returned as ``(H, W)`` with its values unchanged. Other shapes or
    dtypes raise ``ValueError`` / ``TypeError``.
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.float32):
        raise TypeError(f"to_gray needs a uint8 or float32 image, got dtype {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {image.shape}")
