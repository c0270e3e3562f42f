"""The 2-D terrain tasks: exact ceiling against a direct computation, 2-D TE-TNP equivariance."""

from __future__ import annotations

import pytest
import torch

from lps.np.gp import Tasks
from lps.np.terrain import (
    TERRAIN_MODELS,
    build_terrain,
    rbf,
    sample_terrain_tasks,
    terrain,
    terrain_loglik,
)
from lps.relax import forced
from lps.testing import equivariance_error

TYPES = {
    "inputs": {"xc": "position", "yc": "node", "xt": "position"},
    "outputs": {"mean": "node", "std": "node"},
}


def test_terrain_ceiling_matches_direct_normal():
    t = sample_terrain_tasks(3, torch.Generator().manual_seed(0), dtype=torch.float64)
    t.mask[0] = False  # an empty context: the prior predictive
    t = Tasks(t.xc, t.yc * t.mask[..., None], t.mask, t.xt[:, :10], t.yt[:, :10], t.kernel)
    got = terrain_loglik(t)
    for b in range(3):
        m = t.mask[b]
        xc, yc, xt = t.xc[b : b + 1, m], t.yc[b, m, 0], t.xt[b : b + 1]
        x = torch.cat([xc, xt], 1)
        cov = rbf(x, x)[0] + 0.01 * torch.eye(x.shape[1], dtype=torch.float64)
        mean = terrain(x)[0]
        nc = xc.shape[1]
        lls = []
        for i in range(xt.shape[1]):
            idx = list(range(nc)) + [nc + i]
            mvn = torch.distributions.MultivariateNormal(mean[idx], cov[idx][:, idx])
            ll = mvn.log_prob(torch.cat([yc, t.yt[b, i]]))
            if nc:
                ll = ll - torch.distributions.MultivariateNormal(mean[:nc], cov[:nc, :nc]).log_prob(
                    yc
                )
            lls.append(ll)
        assert abs(float(torch.stack(lls).mean()) - float(got[b])) < 1e-6


@pytest.mark.parametrize("name", TERRAIN_MODELS)
def test_terrain_models_translation_equivariance(name):
    torch.manual_seed(0)
    model = build_terrain(name, width=16, heads=2, layers=2).eval()
    t = sample_terrain_tasks(2, torch.Generator().manual_seed(1))
    ex = {"xc": t.xc, "yc": t.yc, "xt": t.xt}
    err = lambda: equivariance_error(model, "T(2)", example=ex, mask=t.mask, **TYPES)  # noqa: E731
    if name == "tnp":
        assert err() > 1e-3
        return
    with forced(model, False) if name.endswith("_fixed") else torch.no_grad():
        assert err() < 1e-5
    if name.endswith("_fixed"):
        with forced(model, True):
            assert err() > 1e-4
