"""``python -m merkit``: see :mod:`merkit.cli`."""

from merkit.cli import main

raise SystemExit(main())
