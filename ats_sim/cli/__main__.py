"""``python -m ats_sim.cli``: the same as the ``ats-sim`` command."""

from ats_sim.cli.main import main

main()
