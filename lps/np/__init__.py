"""Neural processes on 1-D Gibbs-kernel GP tasks: strict and approximately equivariant.

- :mod:`lps.np.gp`: the task generator and the exact GP-mixture ceiling.
- :class:`ConvCNP`, :class:`TNP` (``equivariant=True``: TE-TNP), with learnable fixed inputs
  (:class:`lps.relax.FixedInputs`) for the approximately equivariant versions.
- :func:`build_np`: the models by name (registered as backbones ``np_<name>``).
"""

from lps.np.base import check_inputs, gaussian_loglik, task_loglik
from lps.np.convcnp import ConvCNP
from lps.np.gp import KERNELS, Tasks, fixed_split, gp_loglik, sample_tasks
from lps.np.models import MODEL_NAMES, build_np
from lps.np.tnp import TNP

__all__ = [
    "KERNELS",
    "MODEL_NAMES",
    "TNP",
    "ConvCNP",
    "Tasks",
    "build_np",
    "check_inputs",
    "fixed_split",
    "gaussian_loglik",
    "gp_loglik",
    "sample_tasks",
    "task_loglik",
]
