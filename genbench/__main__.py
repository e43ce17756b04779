"""``python -m genbench`` runs the command line."""

from genbench.cli import main

main()
