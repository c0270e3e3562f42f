"""Does laplace-torch's KFAC marginal likelihood support the marglik layers offline on CPU?

    PYTHONPATH=$PWD python scripts/marglik_laplace_torch_probe.py

Fits ``laplace.Laplace(..., hessian_structure="kron")`` with each GGN backend (asdl,
backpack, curvlinops) on two small models: a residual layer built from ``nn.Conv2d`` +
``nn.Linear`` summed, and a factored dense layer (``U``, ``V`` parameters in an einsum),
then differentiates ``log_marginal_likelihood`` with one prior precision per parameter
tensor. Prints one line per (layer, backend): OK with the value, or the error.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


class ConvDense(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.dense = nn.Linear(128, 128)

    def forward(self, x):
        return self.conv(x) + self.dense(x.flatten(1)).view_as(x)


class Factored(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.U = nn.Parameter(torch.randn(2, 2, 64) * 0.1)
        self.V = nn.Parameter(torch.randn(64, 2, 2) * 0.1)

    def forward(self, x):
        return torch.einsum("dcx,ydc,bcx->bdy", self.U, self.V, x.flatten(2)).view_as(x)


def main() -> None:
    from importlib.metadata import version

    from laplace import Laplace
    from laplace.curvature import AsdlGGN, BackPackGGN, CurvlinopsGGN

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.randn(32, 2, 8, 8), torch.randint(0, 3, (32,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    print(f"laplace-torch {version('laplace-torch')}, torch {torch.__version__}, CPU")
    for name, block in [("conv+dense", ConvDense), ("factored", Factored)]:
        for backend in [AsdlGGN, BackPackGGN, CurvlinopsGGN]:
            model = nn.Sequential(block(), nn.ReLU(), nn.Flatten(), nn.Linear(128, 3))
            try:
                la = Laplace(
                    model,
                    "classification",
                    subset_of_weights="all",
                    hessian_structure="kron",
                    backend=backend,
                )
                la.fit(loader)
                log_prec = torch.zeros(len(list(model.parameters())), requires_grad=True)
                ml = la.log_marginal_likelihood(prior_precision=log_prec.exp())
                ml.backward()
                print(f"{name:11s} {backend.__name__:14s} OK   log marglik {float(ml):.2f}")
            except Exception as err:  # report every backend's failure, do not stop
                print(
                    f"{name:11s} {backend.__name__:14s} FAIL {type(err).__name__}: {str(err)[:120]}"
                )


if __name__ == "__main__":
    main()
