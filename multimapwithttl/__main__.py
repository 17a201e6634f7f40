"""``python -m multimapwithttl``: the same command line as the ``multimapwithttl`` script."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
