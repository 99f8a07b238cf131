"""``python -m sim`` runs the govsim CLI."""

from sim.cli import main

main()
