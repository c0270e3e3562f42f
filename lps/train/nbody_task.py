"""Deprecated location of :data:`NBODY_INPUTS`; use :mod:`lps.train.tasks.nbody`.

Kept only because ``lps/bench.py`` still imports it from here; remove once it does not.
"""

from lps.train.tasks.nbody import NBODY_INPUTS

__all__ = ["NBODY_INPUTS"]
