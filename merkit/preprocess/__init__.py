"""Preprocessing: face box + landmarks -> (occlusion) -> TV-L1 flow onset->apex -> augmentation.

Modules
-------
:mod:`~merkit.preprocess.frames`    ``read_frame(path) -> RGB``, ``to_gray(rgb)``: the one decode path
:mod:`~merkit.preprocess.face`      ``detect(image) -> Face``; clip-level box, fallbacks, landmarks
:mod:`~merkit.preprocess.flow`      ``tvl1(prev, next, **params)``; crop, resize, normalisation
:mod:`~merkit.preprocess.augment`   ``apex_positions(onset, apex, offset)``; the 70x scheme
:mod:`~merkit.preprocess.cache`     one key function, checksummed atomic entries
:mod:`~merkit.preprocess.pipeline`  ``clip_flows(row, cfg, ...)``, ``build_flowset(df, cfg, ...)``
:mod:`~merkit.preprocess.occlusion` synthetic masks, glasses and random blocks (RRRN)

Nothing is imported here, so ``import merkit.preprocess.augment`` stays light (no OpenCV/dlib).
"""
