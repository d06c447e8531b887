"""The papers' tables as grids of runs: runners (deep models, SVM baselines) and table specs.

``runners``: picklable callables that turn a :class:`merkit.experiments.RunSpec` into a
:class:`merkit.experiments.RunResult`. ``augcn``: MER-auGCN Tables III–VII. ``handcrafted``:
the LBP-TOP / LBP-SIP / 3DHOG / HOOF + SVM rows.
"""
