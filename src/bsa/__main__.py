"""``python -m bsa`` runs the ``bsa`` command."""

from bsa.cli import main

main()
