"""The five neural processes of the experiment by name, registered as backbones ``np_<name>``.

``convcnp`` / ``convcnp_fixed``, ``tnp``, ``tetnp`` / ``tetnp_fixed``: the ``_fixed`` ones
carry :class:`~lps.relax.FixedInputs` of the absolute position (``fixed_count`` fields, an
MLP of width ``fixed_hidden``, zero outside ``domain``, dropped per task with ``p_drop``).
"""

from __future__ import annotations

from torch import nn

from lps.backbones import register_backbone
from lps.np.convcnp import ConvCNP
from lps.np.gp import TARGET_RANGE
from lps.np.tnp import TNP
from lps.relax.fixed_inputs import FixedInputs

MODEL_NAMES = ("convcnp", "convcnp_fixed", "tnp", "tetnp", "tetnp_fixed")


def build_np(
    name: str,
    *,
    fixed_count: int = 4,
    p_drop: float = 0.5,
    fixed_hidden: int = 32,
    domain: tuple[float, float] = TARGET_RANGE,
    **sizes,
) -> nn.Module:
    """Build the model ``name`` (one of :data:`MODEL_NAMES`); ``sizes`` go to its class."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown neural process {name!r}; expected one of {MODEL_NAMES}")
    fixed = None
    if name.endswith("_fixed"):
        fixed = FixedInputs(1, fixed_count, fixed_hidden, domain=domain, p_drop=p_drop)
    if name.startswith("convcnp"):
        return ConvCNP(fixed=fixed, **sizes)
    return TNP(equivariant=name != "tnp", fixed=fixed, **sizes)


def _register(name: str) -> None:
    @register_backbone(f"np_{name}")
    def builder(kind: str = "gaussian", *, max_nodes: int | None = None, **kwargs) -> nn.Module:
        if kind != "gaussian":
            raise ValueError(f"backbone 'np_{name}' gives outputs of kind 'gaussian'; {kind!r}")
        return build_np(name, **kwargs)


for _name in MODEL_NAMES:
    _register(_name)
