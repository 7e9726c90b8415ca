"""``python -m seid``: the same as the ``seid`` console script."""

from seid.cli import main

main()
