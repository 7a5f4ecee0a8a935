"""``python -m alptk``: the ``alptk`` command (what torchrun launches)."""

from alptk.cli import main

main()
