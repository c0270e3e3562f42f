"""The learned samplers: small equivariant networks fed the input plus invariant noise.

- :class:`LearnedPermutationSampler` (S_n): a GIN (``torch_geometric.nn.GINConv``) on the real
  nodes and edges gives one score per node; sorting the scores gives the permutation, and a
  SoftSort + Sinkhorn relaxation carries the gradient (straight-through).
- :class:`LearnedRigidSampler` (O(d), SO(d), E(d), SE(d) and their products with S_n): an
  E(n)-equivariant message-passing network on vector and scalar channels. Its pooled vector
  output is turned into a rotation by Gram-Schmidt; for products its invariant node scores
  also give a permutation as above.

With ``canonical=True`` the noise is zero and the sampler is deterministic
(canonicalization); the wrapper then uses a single sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv

from lps.fields import FieldType, infer_sizes
from lps.groups import Group, Rigid, full_precision, gram_schmidt, masked_centroid
from lps.layers import mlp
from lps.samplers.base import (
    Sampler,
    SamplerOutput,
    UnsupportedGroupError,
    first_of_type,
    inputs_dtype,
    repeat_rows,
)
from lps.samplers.relax import scores_to_perm
from lps.samplers.settings import PermSamplerArgs, RigidSamplerArgs


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


def _unit_scale(vectors: Tensor, mask: Tensor | None) -> Tensor:
    """(B, N, C, d) vectors, each channel divided by its root-mean-square norm over the real
    nodes: an invariant positive scale, so the network sees the same input whatever the
    units (rotations do not depend on scale) and stays well-conditioned at 1e-3 and 1e3.
    All-zero channels stay zero."""
    sq = (vectors**2).sum(-1)  # (B, N, C)
    if mask is None:
        mean = sq.mean(1)
    else:
        w = mask.to(sq.dtype).unsqueeze(-1)
        mean = (sq * w).sum(1) / w.sum(1).clamp_min(1.0)
    rms = mean.sqrt()
    rms = torch.where(rms > 0, rms, torch.ones_like(rms))
    return vectors / rms[:, None, :, None]


class LearnedRigidSampler(Sampler):
    """O(d)-type (and S_n x O(d)-type) sampler: an equivariant network + Gram-Schmidt.

    Inputs used: the first ``position`` input (centred), every ``node_vector`` input (its
    channels), every ``node`` input as invariant scalars and every ``pair`` input as
    invariant edge features. Noise: one Gaussian vector per node (scale ``noise_scale``).
    The network runs on all pairs of real nodes (cost O(N^2) per sample).

    Args:
        scalar_dim: total channels of the node inputs. vector_dim: total channels of the
            node_vector inputs. pair_dim: total channels of the pair inputs.
        hidden: scalar width; vector_hidden: vector channels; layers: depth.
        tau, sinkhorn_iters, relax_band, entropy_weight: the permutation relaxation of
            product groups, as for :class:`LearnedPermutationSampler`.
        dtype: parameter and compute dtype (float64 by default, as for the S_n sampler);
            the returned elements are fp32.
    """

    def __init__(
        self,
        group: Group,
        scalar_dim: int = 0,
        vector_dim: int = 0,
        pair_dim: int = 0,
        hidden: int = 32,
        vector_hidden: int = 8,
        layers: int = 2,
        noise_scale: float = 1.0,
        tau: float = 0.1,
        sinkhorn_iters: int = 10,
        entropy_weight: float = 0.0,
        canonical: bool = False,
        relax_band: int | None = None,
        unit_scale: bool = True,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__(group)
        rigid = group.factor("rigid")
        if rigid is None or not set(group.kinds) <= {"rigid", "permutation"}:
            raise UnsupportedGroupError(
                f"LearnedRigidSampler needs an O(d)-type group (or its product with S_n), "
                f"got {group.name}"
            )
        for name, value in (("scalar_dim", scalar_dim), ("vector_dim", vector_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if isinstance(pair_dim, bool) or not isinstance(pair_dim, int) or pair_dim < 0:
            raise ValueError(f"pair_dim must be a non-negative integer, got {pair_dim!r}")
        args = RigidSamplerArgs(
            tau, sinkhorn_iters, relax_band, entropy_weight, hidden, vector_hidden, layers,
            noise_scale, unit_scale, dtype,
        )  # fmt: skip
        self.unit_scale = args.unit_scale
        self.d = rigid.d
        self.rigid_group, self.perm_group = rigid, group.factor("permutation")
        self.scalar_dim, self.vector_dim, self.pair_dim = scalar_dim, vector_dim, pair_dim
        self.noise_scale = noise_scale
        self.tau, self.sinkhorn_iters, self.entropy_weight = tau, sinkhorn_iters, entropy_weight
        self.relax_band = args.relax_band
        self.deterministic = canonical
        has_pos = True  # a position channel is always reserved (zero when there is none)
        cv0 = int(has_pos) + vector_dim + 1
        self.embed = mlp([scalar_dim + cv0 * cv0, hidden, hidden])
        self.layers = nn.ModuleList()
        cv = cv0
        for _ in range(layers):
            layer = nn.ModuleDict(
                {
                    "msg": mlp([2 * hidden + cv + pair_dim, hidden, hidden]),
                    "upd": mlp([2 * hidden, hidden, hidden]),
                    "gate": nn.Linear(hidden, vector_hidden),
                    "mix": nn.Linear(cv, vector_hidden, bias=False),
                    "mix_rel": nn.Linear(cv, vector_hidden, bias=False),
                }
            )
            self.layers.append(layer)
            cv = vector_hidden
        self.frame = nn.Linear(cv, self.d, bias=False)
        self.score = nn.Linear(hidden, 1) if self.perm_group is not None else None
        self.to(dtype)

    def sample_noise(self, inputs, types, mask, k, generator=None) -> tuple[Tensor, Tensor]:
        """Gaussian vectors (B * k, N, 1, d) (zero when canonical) and a per-node tie-break
        (B * k, N) for sorting the permutation scores of product groups."""
        batch, num_nodes, _ = infer_sizes(inputs, types)
        device = next(iter(inputs.values())).device
        shape = (batch * k, num_nodes, 1, self.d)
        dtype = inputs_dtype(inputs)  # float64 noise for float64 inputs: h acts on it exactly
        vectors = self.noise_scale * torch.randn(shape, device=device, generator=generator)
        vectors = vectors.to(dtype)
        if self.deterministic:
            vectors = torch.zeros_like(vectors)
        tiebreak = torch.rand(batch * k, num_nodes, device=device, generator=generator)
        completion = torch.randn(batch * k, 1, self.d, self.d, device=device, generator=generator)
        return vectors, tiebreak, completion.to(dtype)

    def transform_noise(self, h, noise, k):
        vectors, tiebreak, completion = noise
        rows = self.group.repeat(h, k)
        vectors = self.group.act(rows, vectors, FieldType.NODE_VECTOR)
        rigid = self.group.split(rows)["rigid"]  # the completion has no node axis to permute
        completion = self.rigid_group.act(rigid, completion, FieldType.NODE_VECTOR)
        if self.perm_group is not None:
            perm = self.group.split(rows)["permutation"]
            tiebreak = self.perm_group.act(perm, tiebreak.unsqueeze(-1), FieldType.NODE)
            tiebreak = tiebreak.squeeze(-1)
        return vectors, tiebreak, completion

    def network(self, inputs, types, mask, k, noise: Tensor) -> tuple[Tensor, Tensor]:
        """Invariant node features (M, N, H) and equivariant vector channels (M, N, C, d),
        given the noise vectors (M, N, 1, d)."""
        batch, n, _ = infer_sizes(inputs, types)
        m = batch * k
        device = noise.device
        dtype = self.frame.weight.dtype
        pos_name = first_of_type(inputs, types, FieldType.POSITION)
        if pos_name is not None:
            pos = inputs[pos_name].to(dtype)
            pos = pos - masked_centroid(pos, mask).unsqueeze(1)
        else:
            pos = torch.zeros(batch, n, self.d, device=device, dtype=dtype)
        rescale = _unit_scale if self.unit_scale else (lambda v, _: v)
        chans = [rescale(pos.unsqueeze(2), mask)]
        vec = _concat_fields(inputs, types, None, FieldType.NODE_VECTOR)
        if vec is not None:
            chans.append(rescale(vec.to(dtype), mask))
        if sum(c.shape[2] for c in chans) != 1 + self.vector_dim:
            raise ValueError(
                f"LearnedRigidSampler: node_vector inputs have "
                f"{sum(c.shape[2] for c in chans) - 1} channels, "
                f"expected vector_dim={self.vector_dim}"
            )
        vectors = torch.cat([repeat_rows(torch.cat(chans, 2), k), noise.to(dtype)], 2)  # (M,N,C,d)
        scalars = _concat_fields(inputs, types, None, FieldType.NODE)
        pair = _concat_fields(inputs, types, None, FieldType.PAIR)
        for what, x, want in (("node", scalars, self.scalar_dim), ("pair", pair, self.pair_dim)):
            got = 0 if x is None else x.shape[-1]
            if got != want:
                raise ValueError(
                    f"LearnedRigidSampler: {what} inputs have {got} channels, expected {want}"
                )
        gram = vectors @ vectors.transpose(-1, -2)  # (M, N, C, C): O(d)-invariant
        feats = [gram.flatten(2)]
        if scalars is not None:
            feats.insert(0, repeat_rows(scalars, k))
        h = self.embed(torch.cat(feats, -1).to(dtype))
        rows_mask = torch.ones(m, n, dtype=torch.bool, device=device)
        if mask is not None:
            rows_mask = repeat_rows(mask, k)
        pair_w = (rows_mask.unsqueeze(2) & rows_mask.unsqueeze(1)).to(dtype)
        pair_w = pair_w * (1 - torch.eye(n, device=device, dtype=dtype))
        denom = pair_w.sum(-1, keepdim=True).clamp_min(1.0)  # (M, N, 1)
        pair_rep = None if pair is None else repeat_rows(pair, k).to(dtype)
        for layer in self.layers:
            rel = vectors.unsqueeze(2) - vectors.unsqueeze(1)  # (M, N, N, C, d)
            dist = (rel**2).sum(-1)  # (M, N, N, C)
            parts = [h.unsqueeze(2).expand(-1, -1, n, -1), h.unsqueeze(1).expand(-1, n, -1, -1)]
            parts.append(dist)
            if pair_rep is not None:
                parts.append(pair_rep)
            msg = layer["msg"](torch.cat(parts, -1)) * pair_w.unsqueeze(-1)  # (M, N, N, H)
            h = h + layer["upd"](torch.cat([h, msg.sum(2) / denom], -1))
            gate = layer["gate"](msg)  # (M, N, N, C')
            rel_mixed = layer["mix_rel"](rel.transpose(-1, -2)).transpose(-1, -2)  # (M,N,N,C',d)
            agg = (gate.unsqueeze(-1) * rel_mixed).sum(2) / denom.unsqueeze(-1)
            vectors = layer["mix"](vectors.transpose(-1, -2)).transpose(-1, -2) + agg
        return h, vectors

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        rows_mask = None if mask is None else repeat_rows(mask, k)
        noise_vectors, tiebreak, completion = noise
        h, vectors = self.network(inputs, types, mask, k, noise_vectors)
        w = 1.0 if rows_mask is None else rows_mask.to(vectors.dtype)[..., None, None]
        count = vectors.shape[1] if rows_mask is None else rows_mask.sum(1)[:, None, None]
        pooled = (vectors * w).sum(1) / count  # (M, C, d)
        frame_vectors = self.frame(pooled.transpose(1, 2))  # (M, d, d): columns are vectors
        with full_precision(frame_vectors.device):
            # A degenerate frame (a symmetric input, or a network output of rank < d) is
            # completed from Gaussian directions that turn with the input: uniform over what
            # the input leaves undetermined, and exact under coupled noise. Never a fixed axis.
            fill = completion[:, 0].transpose(1, 2).to(frame_vectors.dtype)  # (M, d, d) columns
            rot = gram_schmidt(frame_vectors, special=self.rigid_group.special, fallback=fill)
        rot = rot.to(inputs_dtype(inputs))
        rigid = self.translate_to_centroid(Rigid(rot), inputs, types, mask, k)
        if self.score is None:
            return SamplerOutput(self.group.join({"rigid": rigid}))
        scores = self.score(h).squeeze(-1)
        perm, entropy = scores_to_perm(
            scores,
            rows_mask,
            self.tau,
            self.sinkhorn_iters,
            tiebreak=tiebreak,
            band=self.relax_band,
        )
        parts = {"permutation": perm, "rigid": rigid}
        return _perm_output(self.group, parts, entropy, self.entropy_weight, k)
