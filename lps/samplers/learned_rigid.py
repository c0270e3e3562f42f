"""The learned O(d)-type sampler (and its product with S_n): an E(n)-equivariant
message-passing network on vector and scalar channels. Its pooled vector output is turned
into a rotation by Gram-Schmidt; for products its invariant node scores also give a
permutation (sorted, with the relaxation of :mod:`lps.samplers.relax`).

With ``canonical=True`` the noise vectors are zero and the sampler is deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

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
from lps.samplers.learned import _concat_fields, _perm_output
from lps.samplers.relax import scores_to_perm
from lps.samplers.settings import RigidSamplerArgs

#: Frame columns whose remainder is below this share of the largest column count as
#: degenerate and are completed from the noise. The pooled frame vectors can be small
#: differences of unit-size terms (collinear inputs: 1e-6 of them), so fp32 rounding of the
#: input reaches them magnified ~1e2; a tighter threshold then decides "degenerate" for x
#: and "not" for h . x, and coupled-noise exactness is lost (measured: error 1.4 at 1e-6).
DEGENERATE_TOL = 1e-3


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
            rot = gram_schmidt(
                frame_vectors, self.rigid_group.special, DEGENERATE_TOL, fallback=fill
            )
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
