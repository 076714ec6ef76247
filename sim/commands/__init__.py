"""Subcommands of the ``tessera`` tool: one module each, registered in :mod:`tessera.sim.cli`.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Keep heavy imports (Amaranth, cocotb, scikit-learn) inside ``run`` so that ``tessera --help``
stays fast.
"""
