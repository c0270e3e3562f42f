"""Third-party imports that need care, done once before the rest of ``lps`` is imported.

torch_geometric decorates a few of its functions with ``torch.jit.script`` at import time,
and recent torch releases deprecate ``torch.jit.script`` with a ``FutureWarning``. Without
this module every ``lps`` command and every ``import lps`` would print that warning, which
users can do nothing about. Exactly that warning is ignored, only while torch_geometric is
imported; every other warning, and the same warning from any other code, is shown as usual.
"""

import warnings

#: The message of torch's deprecation warning (a regular expression matched at its start).
JIT_SCRIPT_DEPRECATED = r"`torch\.jit\.script` is deprecated"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=JIT_SCRIPT_DEPRECATED, category=FutureWarning)
    import torch_geometric  # noqa: F401
