"""The ``mi-export`` sub-commands: one module each, with ``add_subparser(sub)`` and ``run(args)``.

The work itself lives in the modules they call (:mod:`export.train_fgsft`,
:mod:`export.stffda`, :mod:`export.evaluate`, ...); these modules are only the argparse wiring
and the terminal output.
"""
