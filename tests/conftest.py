"""Shared fixtures for the test suite.

Markers (registered in ``pyproject.toml``):

- ``slow``: skipped unless the environment variable ``LPS_SLOW=1`` is set.
- ``gpu``: skipped when no CUDA device is available.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import torch

from lps.groups import get_group
from lps.symmetrize import Symmetrized


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = os.environ.get("LPS_SLOW", "") == "1"
    has_cuda = torch.cuda.is_available()
    skip_slow = pytest.mark.skip(reason="slow test: set LPS_SLOW=1 to run it")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="module")
def single_thread():
    """Run a module's tests on one intra-op thread, then restore the setting.

    The core tests run thousands of tiny ops; with several OpenMP threads on a busy 2-core
    machine each op can wait milliseconds for a descheduled worker (measured: 3.8 s vs
    0.05 s for the same test). Opt in with ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_sampler_args(sampler: str) -> dict[str, Any]:
    """Small networks for the learned/canonical samplers (sizes come from the inputs)."""
    return {"hidden": 16} if sampler in ("learned", "canonical") else {}


def supported(group: str, sampler: str) -> bool:
    """Whether ``sampler`` has a construction for ``group`` (the pairs the audit rows cover):
    building it on the group's example inputs does not raise ``UnsupportedGroupError``."""
    from lps.samplers import UnsupportedGroupError, build_sampler
    from lps.testing import field_specs

    g = get_group(group)
    ex = g.example()
    try:
        build_sampler(
            sampler, g, inputs=field_specs(ex.fields, ex.types), **small_sampler_args(sampler)
        )
    except UnsupportedGroupError:
        return False
    return True


BuildModel = Callable[..., tuple[Symmetrized, dict[str, torch.Tensor], "torch.Tensor | None"]]


@pytest.fixture
def build_model() -> BuildModel:
    """``build_model(group, sampler, seed=0, ...) -> (model, fields, mask)``.

    A random :class:`~lps.backbones.FlatMLP` symmetrized over ``group`` on the small random
    inputs of :func:`lps.testing.audit_inputs` (padded sets with masks for S_n and products;
    positions and velocities for the rigid groups; smooth images for image rotations).
    """
    from lps.backbones import FlatMLP
    from lps.symmetrize import symmetrize
    from lps.testing import field_specs

    def build(
        group: str,
        sampler: str,
        seed: int = 0,
        n_samples: int = 2,
        batch: int = 4,
        num_nodes: int = 6,
        device: str = "cpu",
        **kwargs: Any,
    ):
        g = get_group(group)
        ex = g.example(batch, num_nodes, seed)
        fields, mask = ex.fields, ex.mask
        torch.manual_seed(seed)
        in_shapes = {k: tuple(v.shape[1:]) for k, v in fields.items()}
        base = FlatMLP(in_shapes, ex.out_shapes, hidden=32)
        if sampler in ("learned", "canonical"):
            kwargs = {"layers": 2, **kwargs} if g.kind == "permutation" else kwargs
        model = symmetrize(
            base,
            g,
            field_specs(fields, ex.types),
            ex.out_types,
            sampler,
            sampler_args={**small_sampler_args(sampler), **kwargs},
            n_samples=n_samples,
        )
        model = model.to(device).eval()
        fields = {k: v.to(device) for k, v in fields.items()}
        mask = None if mask is None else mask.to(device)
        return model, fields, mask

    return build
