"""torch.compile on the whole wrapper: no graph breaks in train or eval, and (slow) the
compiled model agrees with eager in coupled-noise mode."""

import pytest
import torch
import torch._dynamo

from lps.bench import build_base, build_model, random_graphs, random_particles

pytestmark = pytest.mark.usefixtures("single_thread")


def _case(base: str, sampler: str, relax_band: int | None = None):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if base == "nbody":
        data = random_particles(3, gen)
    else:
        data = random_graphs(3, 10, 3.0, 3, gen)
    model = build_model(base, build_base(base, 10), sampler, 2, relax_band)
    return model, data


@pytest.mark.parametrize(
    "base, sampler, relax_band",
    [
        *(
            (b, s, None)
            for b in ("mlp", "nbody")
            for s in ("learned", "haar", "frame", "canonical")
        ),
        ("mlp", "learned", 2),  # the banded relaxation and its straight-through action
    ],
)
@pytest.mark.parametrize("train", [True, False])
def test_no_graph_breaks(base, sampler, relax_band, train):
    model, data = _case(base, sampler, relax_band)
    model.train(train)
    torch._dynamo.reset()
    report = torch._dynamo.explain(model)(**data)
    torch._dynamo.reset()
    assert report.graph_break_count == 0, [str(r.reason) for r in report.break_reasons]
    assert report.graph_count == 1


@pytest.mark.slow
@pytest.mark.parametrize("base", ["mlp", "nbody"])
def test_compiled_matches_eager(base):
    """Inductor (C++ on CPU, about 30 s per model) gives the eager outputs and gradients."""
    model, data = _case(base, "learned")
    fields = {n: v for n, v in data.items() if n in model.input_types}
    extra = {n: v for n, v in data.items() if n not in model.input_types}
    noise = model.sample_noise(mask=extra.get("mask"), **fields)
    compiled = torch.compile(model)
    model.eval()
    with torch.no_grad():
        eager = model(noise=noise, **data).prediction
        fast = compiled(noise=noise, **data).prediction
    assert torch.allclose(eager, fast, atol=1e-5)
    model.train()
    grads = []
    for fn in (model, compiled):
        model.zero_grad()
        fn(noise=noise, **data).prediction.square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.sampler.parameters()]))
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1].to(grads[0].dtype), atol=1e-5, rtol=1e-4)
