"""Neural processes (lps.np): the GP ceiling against a direct computation, every model's
translation equivariance on tiny models, empty contexts and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from lps.np import KERNELS, MODEL_NAMES, Tasks, build_np, gp_loglik, sample_tasks, task_loglik
from lps.np.gp import NOISE, gibbs
from lps.relax import forced
from lps.testing import equivariance_error

TYPES = {
    "inputs": {"xc": "position", "yc": "node", "xt": "position"},
    "outputs": {"mean": "node", "std": "node"},
}
TINY = {
    "convcnp": {"channels": 8, "layers": 2, "density": 8},
    "tnp": {"width": 16, "heads": 2, "layers": 2},
}


def _tiny(name: str, **kw):
    torch.manual_seed(0)
    return build_np(name, **TINY["convcnp" if name.startswith("conv") else "tnp"], **kw)


def _small_tasks(num_targets: int = 6) -> Tasks:
    t = sample_tasks(4, torch.Generator().manual_seed(3), dtype=torch.float64)
    t.mask[0] = False  # an empty context: the prior predictive
    t.mask[1, 3:] = False
    t.yc = t.yc * t.mask[..., None]
    return Tasks(t.xc, t.yc, t.mask, t.xt[:, :num_targets], t.yt[:, :num_targets], t.kernel)


def _direct(tasks: Tasks, joint: bool) -> torch.Tensor:
    """The mixture predictive with torch.distributions.MultivariateNormal, task by task."""
    out = []
    for b in range(len(tasks)):
        m = tasks.mask[b]
        xc, yc = tasks.xc[b : b + 1, m], tasks.yc[b, m, 0]
        xt, yt = tasks.xt[b : b + 1], tasks.yt[b, :, 0]
        x = torch.cat([xc, xt], 1)
        nc, nt = xc.shape[1], xt.shape[1]
        logw, cond = [], []
        for k in range(len(KERNELS)):
            cov = gibbs(x, x, torch.tensor([k]))[0] + NOISE**2 * torch.eye(nc + nt).double()
            ev = (
                torch.distributions.MultivariateNormal(
                    torch.zeros(nc).double(), cov[:nc, :nc]
                ).log_prob(yc)
                if nc
                else torch.tensor(0.0).double()
            )
            logw.append(ev + math.log(1 / 6))
            if joint:
                full = torch.distributions.MultivariateNormal(torch.zeros(nc + nt).double(), cov)
                cond.append(full.log_prob(torch.cat([yc, yt])) - ev)
            else:
                per = []
                for i in range(nt):
                    idx = list(range(nc)) + [nc + i]
                    sub = cov[idx][:, idx]
                    mvn = torch.distributions.MultivariateNormal(torch.zeros(nc + 1).double(), sub)
                    per.append(mvn.log_prob(torch.cat([yc, yt[i : i + 1]])) - ev)
                cond.append(torch.stack(per))
        logw = torch.stack(logw)
        logw = logw - torch.logsumexp(logw, 0)
        if joint:
            out.append(torch.logsumexp(logw + torch.stack(cond), 0) / nt)
        else:
            out.append(torch.logsumexp(logw[:, None] + torch.stack(cond), 0).mean())
    return torch.stack(out)


@pytest.mark.parametrize("joint", [False, True])
def test_gp_ceiling_matches_direct_multivariate_normal(joint):
    tasks = _small_tasks()
    torch.testing.assert_close(gp_loglik(tasks, joint), _direct(tasks, joint), atol=1e-6, rtol=0)
    shifted = tasks.shifted(7.5)  # the kernels move with the tasks
    torch.testing.assert_close(
        gp_loglik(shifted, joint), gp_loglik(tasks, joint), atol=1e-6, rtol=0
    )


def test_task_sampler():
    t = sample_tasks(32, torch.Generator().manual_seed(0))
    counts = t.mask.sum(1)
    assert t.xc.shape == (32, 64, 1) and t.xt.shape == (32, 128, 1)
    assert int(counts.min()) >= 1 and int(counts.max()) <= 64
    assert float(t.xc.abs().max()) <= 2 and float(t.xt.abs().max()) <= 4
    assert float(t.yc[~t.mask].abs().max()) == 0.0
    again = sample_tasks(32, torch.Generator().manual_seed(0))
    assert torch.equal(t.yt, again.yt)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_models_translation_equivariance(name):
    model = _tiny(name).eval()
    t = sample_tasks(3, torch.Generator().manual_seed(1))
    ex = {"xc": t.xc, "yc": t.yc, "xt": t.xt}
    if name == "tnp":
        assert equivariance_error(model, "T(1)", example=ex, mask=t.mask, **TYPES) > 1e-3
        return
    with forced(model, False) if name.endswith("_fixed") else torch.no_grad():
        assert equivariance_error(model, "T(1)", example=ex, mask=t.mask, **TYPES) < 1e-5
    if name.endswith("_fixed"):
        with forced(model, True):
            assert equivariance_error(model, "T(1)", example=ex, mask=t.mask, **TYPES) > 1e-4


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_empty_context_is_the_prior_predictive(name):
    model = _tiny(name).eval()
    t = sample_tasks(2, torch.Generator().manual_seed(2))
    with torch.no_grad():
        masked = model(xc=t.xc, yc=t.yc, xt=t.xt, mask=torch.zeros_like(t.mask))
        empty = model(xc=t.xc[:, :0], yc=t.yc[:, :0], xt=t.xt)
    torch.testing.assert_close(masked["mean"], empty["mean"], atol=1e-5, rtol=1e-5)
    assert bool(torch.isfinite(empty["std"]).all()) and float(empty["std"].min()) > 0


def test_loss_trains_a_tiny_model():
    model = _tiny("convcnp")
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    t = sample_tasks(4, torch.Generator().manual_seed(4))
    first = float(-task_loglik(model, t).mean().detach())
    for _ in range(8):
        loss = -task_loglik(model, t).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first - 0.05


def test_bad_inputs_are_named():
    model = _tiny("tetnp")
    t = sample_tasks(2, torch.Generator().manual_seed(5))
    with pytest.raises(ValueError, match="xt: input dimension 2"):
        model(xc=t.xc, yc=t.yc, xt=torch.cat([t.xt, t.xt], -1))
    with pytest.raises(ValueError, match="yc: contains NaN"):
        model(xc=t.xc, yc=t.yc * float("nan"), xt=t.xt)
    with pytest.raises(ValueError, match="same \\(B, Nc\\)"):
        model(xc=t.xc, yc=t.yc[:, :3], xt=t.xt)
    with pytest.raises(ValueError, match="mask"):
        model(xc=t.xc, yc=t.yc, xt=t.xt, mask=t.mask.float())
    t.yt[0, 5] = float("nan")
    with pytest.raises(ValueError, match="yt: 1 target value"):
        task_loglik(model, t)
    with pytest.raises(ValueError, match="unknown neural process"):
        build_np("gp")
    with pytest.raises(ValueError, match="equivariant=True"):
        from lps.np import TNP
        from lps.relax import FixedInputs

        TNP(fixed=FixedInputs())
