"""The learned samplers: small equivariant networks fed the input plus invariant noise.

- :class:`LearnedPermutationSampler` (S_n): a GIN (``torch_geometric.nn.GINConv``) on the real
  nodes and edges gives one score per node; sorting the scores gives the permutation, and a
  SoftSort + Sinkhorn relaxation carries the gradient (straight-through).
- :class:`~lps.samplers.learned_rigid.LearnedRigidSampler` (O(d)-type groups and their
  products with S_n) lives in :mod:`lps.samplers.learned_rigid` and shares the helpers here.

With ``canonical=True`` the noise is zero and the sampler is deterministic
(canonicalization); the wrapper then uses a single sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv

from lps.fields import FieldType, infer_sizes
from lps.groups import Group, full_precision
from lps.layers import mlp
from lps.samplers.base import (
    Sampler,
    SamplerOutput,
    UnsupportedGroupError,
    first_of_type,
    repeat_rows,
)
from lps.samplers.relax import scores_to_perm
from lps.samplers.settings import PermSamplerArgs


def dense_edge_index(adj: Tensor) -> Tensor:
    """(2, E) edges of a dense adjacency (B, N, N) in the flat layout ``b * N + i``.

    Uses ``nonzero`` (a host sync); pass ``edge_index`` to the model to avoid it.
    """
    b, i, j = adj.nonzero(as_tuple=True)
    n = adj.shape[1]
    return torch.stack([b * n + i, b * n + j])


def repeat_edge_index(edge_index: Tensor, num_nodes: int, k: int) -> Tensor:
    """Edges of B graphs in the flat layout ``b * N + i`` -> edges of ``B * k`` copies."""
    if k == 1:
        return edge_index
    graph = edge_index[0] // num_nodes
    base = edge_index + graph * (k - 1) * num_nodes  # copy 0 of graph b starts at b * k * N
    shift = torch.arange(k, device=edge_index.device) * num_nodes
    return (base.unsqueeze(-1) + shift).reshape(2, -1)


def random_walk_features(adj: Tensor, steps: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, N, steps) return probabilities ``diag(P^t)``, t = 1..steps, ``P = D^-1 A``.

    Permutation-equivariant structural node features with no sign or basis ambiguity; unlike
    1-WL colours they see cycle lengths (a node on a triangle returns in 3 steps). Computed in
    ``dtype`` (at least fp32) with dense products, O(steps N^3) per graph. ``adj`` is
    (B, N, N); padding rows are 0.
    """
    with full_precision(adj.device):
        a = adj.to(dtype)
        walk = a / a.sum(-1, keepdim=True).clamp_min(1.0)
        power, feats = walk, []
        for _ in range(steps):
            feats.append(torch.diagonal(power, dim1=1, dim2=2))
            power = power @ walk
        return torch.stack(feats, -1)


def _concat_fields(inputs, types, names, ftype) -> Tensor | None:
    names = names if names is not None else [n for n, t in types.items() if t == ftype]
    parts = [inputs[n] if inputs[n].dtype == torch.float64 else inputs[n].float() for n in names]
    return torch.cat(parts, -1 if ftype != FieldType.NODE_VECTOR else 2) if parts else None


class LearnedPermutationSampler(Sampler):
    """S_n sampler: GIN scores on node features + uniform noise, sorted in fp32.

    Args:
        in_dim: channels of the node features fed to the GIN (sum over ``node_fields``).
        hidden, layers: GIN width and depth.
        noise_dim: noise channels per node (uniform in [0, 1)).
        tau: SoftSort temperature. sinkhorn_iters: Sinkhorn iterations.
        relax_band: keep only the soft-permutation entries within this many sorted
            positions of the diagonal (SoftSort and Sinkhorn in O(k N w) instead of
            O(k N^2); see :func:`lps.samplers.relax.scores_to_perm`). None: dense.
        entropy_weight: weight of the soft-permutation entropy added as an auxiliary loss.
        canonical: zero noise and one sample (canonicalization).
        node_fields: node inputs fed to the network (default: every node input).
        adjacency_field: the pair input whose channel 0 gives the edges when no
            ``edge_index`` is passed and the random-walk features (default: the first pair
            input).
        walk_steps: number of random-walk return probabilities appended to the node
            features (:func:`random_walk_features`); 0 disables them. They let the sampler
            tell apart nodes that 1-WL (and so the GIN alone) cannot, so that far fewer ties
            are left to the noise.
        dtype: the network's parameter and compute dtype. float64 (the default) keeps the
            scores of a relabelled input equal to ~1e-15, so hard sorting is exactly
            equivariant in coupled-noise mode; float32 is faster and exact only up to rare
            near-ties (see :data:`lps.samplers.relax.TIE_TOL`).
    """

    def __init__(
        self,
        group: Group,
        in_dim: int,
        hidden: int = 64,
        layers: int = 3,
        noise_dim: int = 1,
        tau: float = 0.1,
        sinkhorn_iters: int = 10,
        entropy_weight: float = 0.0,
        canonical: bool = False,
        node_fields: list[str] | None = None,
        adjacency_field: str | None = None,
        walk_steps: int = 0,
        relax_band: int | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__(group)
        if group.kinds != ("permutation",):
            raise UnsupportedGroupError(
                f"LearnedPermutationSampler acts for S_n, got group {group.name}"
            )
        if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim < 0:
            raise ValueError(f"in_dim must be a non-negative integer, got {in_dim!r}")
        args = PermSamplerArgs(
            tau, sinkhorn_iters, relax_band, entropy_weight, hidden, layers, noise_dim,
            walk_steps, node_fields, adjacency_field, dtype,
        )  # fmt: skip
        self.in_dim, self.noise_dim = in_dim, noise_dim
        self.tau, self.sinkhorn_iters = tau, sinkhorn_iters
        self.relax_band = args.relax_band
        self.entropy_weight = entropy_weight
        self.deterministic = canonical
        self.node_fields, self.adjacency_field = node_fields, adjacency_field
        self.walk_steps = walk_steps
        self.embed = nn.Linear(max(in_dim, 1) + walk_steps + noise_dim, hidden)
        self.convs = nn.ModuleList(
            GINConv(mlp([hidden, hidden, hidden], nn.ReLU), train_eps=True) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.score = nn.Linear(hidden, 1)
        self.to(dtype)

    def sample_noise(self, inputs, types, mask, k, generator=None) -> Tensor:
        """(B * k, N, noise_dim + 1): the network's noise (zero when canonical), then the
        per-node tie-break used only when sorting."""
        batch, num_nodes, _ = infer_sizes(inputs, types)
        device = next(iter(inputs.values())).device
        noise = torch.rand(
            batch * k, num_nodes, self.noise_dim + 1, device=device, generator=generator
        )
        if self.deterministic:
            noise[..., : self.noise_dim] = 0.0
        return noise

    def transform_noise(self, h, noise, k):
        return self.group.act(self.group.repeat(h, k), noise, FieldType.NODE)

    def node_scores(self, inputs, types, mask, k, noise, edge_index=None) -> Tensor:
        """(B * k, N) invariant-noise-dependent, permutation-equivariant node scores."""
        batch, n, _ = infer_sizes(inputs, types)
        feats = _concat_fields(inputs, types, self.node_fields, FieldType.NODE)
        if feats is None:
            feats = torch.ones(batch, n, 1, device=noise.device)
        if feats.shape[-1] != max(self.in_dim, 1):
            raise ValueError(
                f"LearnedPermutationSampler: node features have {feats.shape[-1]} channels, "
                f"but the sampler was built with in_dim={self.in_dim}"
            )
        adj_name = self.adjacency_field or first_of_type(inputs, types, FieldType.PAIR)
        if adj_name is None and (edge_index is None or self.walk_steps):
            raise ValueError(
                "LearnedPermutationSampler: needs a pair input (adjacency in channel 0)"
                + (" for walk_steps > 0" if self.walk_steps else " or an edge_index")
            )
        dtype = self.embed.weight.dtype
        feats = feats.to(dtype)
        if self.walk_steps:
            adj = inputs[adj_name][..., 0] != 0
            feats = torch.cat([feats, random_walk_features(adj, self.walk_steps, dtype)], -1)
        if edge_index is None:
            edge_index = dense_edge_index(inputs[adj_name][..., 0] != 0)
        edges = repeat_edge_index(edge_index, n, k)
        x = torch.cat([repeat_rows(feats, k), noise[..., : self.noise_dim].to(dtype)], -1)
        h = self.embed(x.reshape(batch * k * n, -1))
        for conv, norm in zip(self.convs, self.norms):
            h = h + torch.relu(conv(norm(h), edges))
        return self.score(h).view(batch * k, n)

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        scores = self.node_scores(inputs, types, mask, k, noise, edge_index)
        rows_mask = None if mask is None else repeat_rows(mask, k)
        perm, entropy = scores_to_perm(
            scores,
            rows_mask,
            self.tau,
            self.sinkhorn_iters,
            tiebreak=noise[..., -1],
            band=self.relax_band,
        )
        return _perm_output(self.group, {"permutation": perm}, entropy, self.entropy_weight, k)


def _perm_output(group: Group, parts: dict, entropy, weight, k) -> SamplerOutput:
    """The element joined from ``parts`` (``"permutation"`` and maybe ``"rigid"``), with the
    soft permutation's entropy (loss and diagnostic) and the spread of the k samples."""
    perm = parts["permutation"]
    aux, diag = {}, {}
    if entropy is not None:
        diag["perm_entropy"] = entropy.detach()
        if weight:
            aux["perm_entropy"] = weight * entropy
    if k > 1:
        idx = perm.index.view(-1, k, perm.index.shape[1])
        diag["perm_spread"] = (idx != idx[:, :1]).any(-1).float().mean().detach()
    return SamplerOutput(group.join(parts), aux, diag)
