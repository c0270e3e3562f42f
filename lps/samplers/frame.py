"""Frame averaging: elements drawn uniformly from an input-dependent frame.

- O(d)/SO(d)/E(d)/SE(d): the PCA frame. The eigenvectors of the (centred) covariance of all
  vectors, mixed by a Haar element of the block-diagonal subgroup of tied eigenvalues: a
  random sign for a simple eigenvalue, a Haar rotation of the eigenspace for a repeated one
  (so an isotropic input, such as the vertices of a cube, is averaged over the whole group
  instead of being given one arbitrary pose). The mixing comes from Gaussian noise vectors
  in world coordinates, read in the eigenbasis, so it does not depend on which basis (or
  sign) ``eigh`` returns and coupled noise stays exact on degenerate inputs.
- S_n: nodes sorted lexicographically by Laplacian spectral keys (each simple eigenvector
  with a random sign, the diagonal of the eigenspace projector for a repeated eigenvalue),
  then by node features, then by a uniform tie-break drawn per node.
- S_n x O(d): the PCA frame for the rotation; nodes sorted by their canonical coordinates.

Exact mode (``exact=True``, the default): a finite frame is enumerated instead of sampled,
so the average has no Monte-Carlo error and ``k`` is the sampler's (:meth:`num_samples`):
- O(d)-type groups: the 2^d sign patterns of the eigenvectors (2^(d-1), those of det +1, for
  SO(d)/SE(d)), k = 8 (4) in 3-D. The noise that turns a tied eigenspace is drawn once per
  input and shared by its k slots, so with simple eigenvalues the k elements are the whole
  frame and the average is exactly equivariant; a tied eigenspace (a cube) still gets one
  Haar turn per input, so there the average is equivariant in expectation only.
- S_n x O(d): the enumerated rotations, each with its sort of the canonical coordinates
  (points with equal coordinates are ordered at random).
- S_n: the 2^num_eigvecs sign patterns of the Laplacian eigenvectors times ``max_orderings``
  slots: a graph whose tie classes (nodes with equal keys) have at most ``max_orderings``
  orderings in all gets each of them (in slot t, ordering t mod P, weighted so that each
  weighs 1 / P: ``SamplerOutput.weights``); a graph with more (a cycle) gets random ones.

Near-ties are a discontinuity of every frame: two eigenvalues whose relative gap sits at
``tie_tol`` are tied for one pose of the input and not for another, which changes the frame
(``scripts/frame_near_tie.py`` measures it; ``docs/architecture.md``, Frames).

Frames are computed in float64 (returned as fp32 elements, float64 for float64 inputs), so
that rounding noise from a relabelled input stays far below the tie tolerances of the keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lps.fields import FieldType, infer_sizes
from lps.groups import Group, Perm, Rigid, full_precision, masked_centroid, qr_haar
from lps.groups.orthogonal import fix_determinant
from lps.samplers.base import (
    Sampler,
    SamplerOutput,
    UnsupportedGroupError,
    first_of_type,
    inputs_dtype,
    repeat_rows,
)
from lps.samplers.frame_enum import enumerate_ties, sign_patterns
from lps.samplers.relax import lexsort, tie_ranks
from lps.samplers.settings import FrameArgs

_QUANT = 1e-4  # frame keys closer than this count as tied (float noise must not split ties)


@dataclass
class FrameNoise:
    """``gauss`` (M, d, d): d Gaussian vectors (columns) in world coordinates for the rotation;
    ``tiebreak`` (M, N) per node; ``signs`` (M, K) for the Laplacian eigenvectors."""

    gauss: Tensor | None = None
    tiebreak: Tensor | None = None
    signs: Tensor | None = None


def _tie_blocks(evals: Tensor, tol: float) -> Tensor:
    """(M, d, d) bool: eigenvalues i and j (ascending) lie in the same tied run."""
    gaps = evals[:, 1:] - evals[:, :-1]
    scale = evals.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    new_block = gaps > tol * scale
    block = torch.cat([torch.zeros_like(new_block[:, :1]), new_block], 1).long().cumsum(1)
    return block.unsqueeze(2) == block.unsqueeze(1)


def _vectors(inputs, types, mask, d) -> tuple[Tensor, Tensor]:
    """All vectors of the input as (B, P, d) fp32 with weights (B, P): centred positions first."""
    vecs, weights = [], []
    node_w = None if mask is None else mask.double()
    for name, ftype in types.items():
        x = inputs[name].double()
        if ftype == FieldType.POSITION:
            x = (x - masked_centroid(x, mask).unsqueeze(1)).unsqueeze(2)
        elif ftype != FieldType.NODE_VECTOR:
            continue
        b, n, c, _ = x.shape
        vecs.append(x.reshape(b, n * c, d))
        w = torch.ones(b, n, device=x.device, dtype=x.dtype) if node_w is None else node_w
        weights.append(w.repeat_interleave(c, 1))
    if not vecs:
        raise ValueError(
            "frame sampler: the PCA frame needs a 'position' or 'node_vector' input; got "
            + ", ".join(f"{n}: {t.value}" for n, t in types.items())
        )
    return torch.cat(vecs, 1), torch.cat(weights, 1)


def _padding_key(mask: Tensor | None, m: int, n: int, device) -> Tensor:
    if mask is None:
        return torch.zeros(m, n, device=device)
    ramp = torch.arange(n, device=device, dtype=torch.float32)
    return torch.where(mask, 0.0, 1.0 + ramp)


#: Group kinds with a frame here: S_n, O(d)-type groups and their products.
FRAME_KINDS = ({"permutation"}, {"rigid"}, {"permutation", "rigid"})


class FrameSampler(Sampler):
    """Frame averaging for S_n, O(d)-type groups and their products.

    Args:
        tie_tol: relative gap under which two eigenvalues count as tied.
        num_eigvecs: how many Laplacian eigenvectors give S_n sort keys.
        adjacency_field: the pair input whose channel 0 is the adjacency (default: the first
            pair input); without a pair input, S_n frames sort by node features alone.
        exact: enumerate the frame (k set by :meth:`num_samples`) instead of sampling k
            of its elements.
        max_orderings: S_n, exact mode: the slots per sign pattern for orderings of ties.
    """

    def __init__(
        self,
        group: Group,
        tie_tol: float = 1e-4,
        num_eigvecs: int = 3,
        adjacency_field: str | None = None,
        exact: bool = True,
        max_orderings: int = 8,
    ):
        super().__init__(group)
        if set(group.kinds) not in FRAME_KINDS or len(group.kinds) != len(set(group.kinds)):
            raise UnsupportedGroupError(
                f"frame sampler: no frame is defined for group {group.name} (kind "
                f"{group.kind!r}); frames exist for S_n, O(d)-type groups and their product"
            )
        args = FrameArgs(tie_tol, num_eigvecs, adjacency_field, exact, max_orderings)
        self.tie_tol, self.num_eigvecs = args.tie_tol, args.num_eigvecs
        self.adjacency_field = args.adjacency_field
        self.exact, self.max_orderings = args.exact, args.max_orderings
        self.rigid_group = group.factor("rigid")
        self.perm_group = group.factor("permutation")

    def num_samples(self, k: int) -> int:
        """``k`` when sampling; in exact mode the number of enumerated slots per input: the
        sign patterns of the PCA frame (2^d, or 2^(d-1) with det +1), or for S_n the
        2^num_eigvecs eigenvector sign patterns times ``max_orderings``."""
        if not self.exact:
            return k
        rigid = self.rigid_group
        if rigid is not None:
            return 2 ** (rigid.d - 1 if rigid.special else rigid.d)
        return 2**self.num_eigvecs * self.max_orderings

    def _check_k(self, k: int) -> None:
        if self.exact and k != self.num_samples(k):
            raise ValueError(
                f"frame sampler for {self.group.name}: exact mode enumerates "
                f"{self.num_samples(k)} elements per input (num_samples), got k={k}; pass "
                "that k, or exact=False to draw k frame elements at random"
            )

    # Noise ----------------------------------------------------------------------------

    def sample_noise(self, inputs, types, mask, k, generator=None) -> FrameNoise:
        self._check_k(k)
        batch, num_nodes, _ = infer_sizes(inputs, types)
        device = next(iter(inputs.values())).device
        m = batch * k
        noise = FrameNoise()
        rigid = self.rigid_group
        if rigid is not None:  # exact: one draw per input, shared by its enumerated slots
            rows = batch if self.exact else m
            gauss = torch.randn(rows, rigid.d, rigid.d, device=device, generator=generator)
            gauss = repeat_rows(gauss, k) if self.exact else gauss
            noise.gauss = gauss.double()  # the frame is float64: turn the noise exactly
        if self.perm_group is not None:
            noise.tiebreak = torch.rand(m, num_nodes, device=device, generator=generator)
        if rigid is None and not self.exact:  # exact mode enumerates the signs
            coin = torch.rand(m, self.num_eigvecs, device=device, generator=generator)
            noise.signs = torch.where(coin < 0.5, -1.0, 1.0)
        return noise

    def transform_noise(self, h, noise: FrameNoise, k: int) -> FrameNoise:
        gauss, tie = noise.gauss, noise.tiebreak
        parts = self.group.split(h)
        if gauss is not None:  # world-coordinate vectors turn with the input
            rot = parts["rigid"].matrix.to(gauss.dtype).repeat_interleave(k, 0)
            gauss = rot @ gauss
        if tie is not None:
            rows = self.perm_group.repeat(parts["permutation"], k)
            tie = self.perm_group.act(rows, tie.unsqueeze(-1), FieldType.NODE).squeeze(-1)
        return FrameNoise(gauss, tie, noise.signs)

    # Frames ---------------------------------------------------------------------------

    def _rotation(self, inputs, types, mask, k, gauss: Tensor, rigid: Group) -> Tensor:
        """(B * k, d, d) frame elements (columns = canonical axes), in float64."""
        vecs, w = _vectors(inputs, types, mask, rigid.d)
        cov = torch.einsum("bp,bpi,bpj->bij", w, vecs, vecs)
        evals, evecs = torch.linalg.eigh(cov)
        evecs = repeat_rows(evecs, k)
        tied = repeat_rows(_tie_blocks(evals, self.tie_tol), k)
        # Block-diagonal Haar (signs, or turns of a repeated eigenspace) from the noise vectors'
        # coordinates in the eigenbasis: eigh's arbitrary basis of a tied eigenspace (and sign
        # of a simple one) cancels, so frame(R x) = R frame(x) exactly under coupled noise.
        mix = qr_haar((evecs.transpose(1, 2) @ gauss.double()) * tied)
        rot = evecs @ mix
        if self.exact:  # slot j: sign pattern j (column 0 is set by the determinant for SO(d))
            d, batch = rigid.d, evecs.shape[0] // k
            free = d - 1 if rigid.special else d
            signs = sign_patterns(2**free, free, 1, batch, rot.device)
            if rigid.special:
                signs = torch.cat([torch.ones_like(signs[:, :1]), signs], 1)
            rot = rot * signs.unsqueeze(1)
        return fix_determinant(rot) if rigid.special else rot

    def _graph_keys(self, inputs, types, mask, signs: Tensor, k: int) -> list[Tensor]:
        """Sort keys (B * k, N), most significant first."""
        keys: list[Tensor] = []
        adj_name = self.adjacency_field or first_of_type(inputs, types, FieldType.PAIR)
        if adj_name is not None:
            adj = inputs[adj_name][..., 0].double()
            adj = 0.5 * (adj + adj.transpose(1, 2))
            deg = adj.sum(-1)
            lap = torch.diag_embed(deg) - adj
            if mask is not None:  # push padding eigenvalues above every real one
                shift = 2 * deg.abs().amax(-1, keepdim=True) + 1.0
                lap = lap + torch.diag_embed(shift * (~mask).double())
            evals, evecs = torch.linalg.eigh(lap)
            n_keys = min(self.num_eigvecs, evals.shape[1])
            tied = _tie_blocks(evals.clamp_min(0) + 1.0, self.tie_tol).double()
            proj_diag = (evecs**2) @ tied  # (B, N, N): diagonal of each eigenspace projector
            w = 1.0 if mask is None else mask.double()
            for j in range(n_keys):
                u = evecs[..., j] * w
                simple = tied[:, j].sum(-1, keepdim=True) < 1.5
                skew = (u**3).sum(-1, keepdim=True)
                signed = u * torch.where(skew < 0, -1.0, 1.0)
                oriented = skew.abs() > self.tie_tol * (u.abs() ** 3).sum(-1, keepdim=True)
                key = torch.where(simple & oriented, signed, u.abs())
                key = repeat_rows(torch.where(simple, key, proj_diag[..., j]), k)
                flip = repeat_rows(simple & oriented, k)  # only an oriented vector has a sign
                keys.append(torch.where(flip, key * signs[:, j : j + 1], key))
        for name, ftype in types.items():
            if ftype == FieldType.NODE:
                x = repeat_rows(inputs[name].double(), k)
                keys.extend(x[..., c] for c in range(x.shape[-1]))
        return [tie_ranks(key, _QUANT) for key in keys]

    def sample(self, inputs, types, mask, k, noise: FrameNoise, edge_index=None) -> SamplerOutput:
        self._check_k(k)
        device = next(iter(inputs.values())).device
        rows_mask = None if mask is None else repeat_rows(mask, k)
        dtype = inputs_dtype(inputs)
        parts, weights = {}, None
        with full_precision(device):
            rigid_group = self.rigid_group
            if rigid_group is not None:
                rot = self._rotation(inputs, types, mask, k, noise.gauss, rigid_group)
                rigid = self.translate_to_centroid(Rigid(rot.to(dtype)), inputs, types, mask, k)
                parts["rigid"] = rigid
            if self.perm_group is not None:
                m, n = noise.tiebreak.shape
                first = _padding_key(rows_mask, m, n, device)
                if rigid_group is not None:
                    keys = self._point_keys(inputs, types, mask, k, rot, rigid_group)
                elif not self.exact:
                    keys = self._graph_keys(inputs, types, mask, noise.signs, k)
                else:
                    index, weights = self._enumerated_sort(inputs, types, mask, k, noise, first)
                    parts["permutation"] = Perm(index)
                if "permutation" not in parts:
                    index = lexsort(keys + [noise.tiebreak.float()], first)
                    parts["permutation"] = Perm(index)
        return SamplerOutput(self.group.join(parts), weights=weights)

    def _enumerated_sort(self, inputs, types, mask, k, noise, first) -> tuple[Tensor, Tensor]:
        """S_n, exact mode: (B * k, N) sorts over the enumerated sign patterns and orderings
        of ties, and their weights (B * k,). Tied nodes are listed in the order of the first
        slot's tie-break (turned with the input in coupled-noise mode), so that slot j of a
        relabelled input is slot j of the input, relabelled."""
        slots = self.max_orderings
        patterns = k // slots
        batch = noise.tiebreak.shape[0] // k
        signs = sign_patterns(patterns, self.num_eigvecs, slots, batch, first.device)
        keys = self._graph_keys(inputs, types, mask, signs, k)
        shared = noise.tiebreak.view(batch, k, -1)[:, 0]
        base = lexsort(keys + [repeat_rows(shared, k).float()], first)
        drawn = lexsort(keys + [noise.tiebreak.float()], first)
        index, weights = enumerate_ties(base, [first] + keys, slots, drawn)
        return index, weights / patterns

    def _point_keys(self, inputs, types, mask, k, rot: Tensor, rigid_group: Group) -> list:
        """S_n x O(d): sort keys (B * k, N) from the canonical coordinates of the points."""
        pos_name = first_of_type(inputs, types, FieldType.POSITION)
        if pos_name is not None:
            pts = inputs[pos_name].double()
            if rigid_group.translations:
                pts = pts - masked_centroid(pts, mask).unsqueeze(1)
        else:
            vname = first_of_type(inputs, types, FieldType.NODE_VECTOR)
            pts = inputs[vname][:, :, 0].double()
        canon = repeat_rows(pts, k) @ rot  # float64 canonical coordinates
        return [tie_ranks(canon[..., c], _QUANT) for c in range(canon.shape[-1])]
