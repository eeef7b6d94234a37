"""The ``ats-sim`` command line: the edge where the core meets files, sinks and people."""
