"""Benchmarks with ratios against the obvious alternative: ``python -m merkit.bench NAME|all``.

Every benchmark times merkit's way and the obvious alternative *in the same run* (interleaved
or back to back, on the same inputs), prints a short aligned table with the absolute numbers,
the machine (CPUs, load, torch threads, device) and a final line ``ratio: 3.2x faster than
<alternative>``, and returns its numbers as a dict with a ``ratio`` key (> 1: merkit faster).

==============  ===========================================  ===================================
benchmark       merkit                                       alternative
==============  ===========================================  ===================================
``flow``        cached, parallel flow pipeline (cold cache)  plain sequential OpenCV loop
                and its cache hit
``train``       MER-auGCN training, Eq. 1's K attention      the same model with K ``Linear(d,
                layers as one ``Linear(d, K d)`` and the K   d)`` and K MLP modules in a Python
                AU MLPs batched                              loop (paper transcription)
``levers``      each table row's training steps: bf16,       fp32 contiguous steps; the K
                channels_last, a K-member batched ensemble   members one by one
``cpu``         fused Adam (and foreach), torch.compile, 2   Adam's loop kernel; eager; 1
                workers x 1 thread, frame reuse's bound      worker x 2 threads
``features``    vectorised LBP-TOP (+ LBP-SIP, 3DHOG, HOOF   ``skimage`` LBP on every XY, XT,
                seconds per clip)                            YT slice + per-block histograms
``occlusion``   ``occlude`` with the per-clip design cache   re-drawing the design every frame
==============  ===========================================  ===================================

``python -m merkit.bench all`` runs them in this order with their defaults (about 1.5-2 minutes
on 2 idle CPU cores); ``python -m merkit.bench NAME --help`` lists a benchmark's options and
``--quick`` shrinks every size (seconds; for smoke tests, the numbers mean little). Timings on
a shared, loaded machine vary by tens of per cent between runs; the ratios, measured on the
same inputs in the same run, vary less.

Modules: :mod:`~merkit.bench.common` (the :class:`~merkit.bench.common.Benchmark` record, output
and timing helpers, demo clips; how to add a benchmark), one module per benchmark, and
:mod:`~merkit.bench.__main__` (the command line). This package imports nothing on its own, so
``merkit.bench.common`` stays cheap to import.
"""
