"""lps: make any PyTorch model equivariant by learned probabilistic symmetrization."""

from lps import _imports  # noqa: F401  (first: torch_geometric without its FutureWarning)
from lps.fields import FieldType
from lps.groups import get_group
from lps.samplers import build_sampler
from lps.symmetrize import Symmetrized, SymmetrizedOutput, symmetrize

__version__ = "0.2.0"

__all__ = [
    "FieldType",
    "Symmetrized",
    "SymmetrizedOutput",
    "__version__",
    "build_sampler",
    "get_group",
    "symmetrize",
]
