"""Typed fields: how each tensor transforms under the symmetry group.

A field type says which axes of a tensor a group element acts on. Shapes:

- ``invariant``    (B, ...)           per-graph values; nothing acts on them.
- ``node``         (B, N, C)          per-node features; permutations act on N.
- ``pair``         (B, N, N, C)       per-pair features; permutations act on both N axes.
- ``node_vector``  (B, N, C, d)       per-node vectors; permutations act on N, rotations on d.
- ``position``     (B, N, d)          per-node points; like vectors, and they also translate.
- ``image``        (B, C, H, W)       images; planar rotations act on (H, W).

Variable-size sets are padded to ``N`` with a boolean node mask ``(B, N)`` whose real
nodes come first (the layout of ``torch_geometric.utils.to_dense_batch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor


class FieldType(str, Enum):
    """How a tensor transforms; the string value is the name used in configs."""

    INVARIANT = "invariant"
    NODE = "node"
    PAIR = "pair"
    NODE_VECTOR = "node_vector"
    POSITION = "position"
    IMAGE = "image"

    @classmethod
    def parse(cls, value: str | FieldType, name: str = "field") -> FieldType:
        """Turn a string into a ``FieldType`` with an error that lists the valid names."""
        if isinstance(value, FieldType):
            return value
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(f.value) for f in cls)
            raise ValueError(
                f"{name}: unknown field type {value!r}; expected one of {valid}"
            ) from None


#: Minimum number of dimensions of a tensor of each type (``invariant`` accepts (B,) too).
MIN_DIMS = {
    FieldType.INVARIANT: 1,
    FieldType.NODE: 3,
    FieldType.PAIR: 4,
    FieldType.NODE_VECTOR: 4,
    FieldType.POSITION: 3,
    FieldType.IMAGE: 4,
}

#: Human-readable expected shapes, used in error messages.
SHAPES = {
    FieldType.INVARIANT: "(B, ...)",
    FieldType.NODE: "(B, N, C)",
    FieldType.PAIR: "(B, N, N, C)",
    FieldType.NODE_VECTOR: "(B, N, C, d)",
    FieldType.POSITION: "(B, N, d)",
    FieldType.IMAGE: "(B, C, H, W)",
}


@dataclass(frozen=True)
class FieldSpec:
    """A declared field: its type and, optionally, its channel count ``C``.

    Written as ``"node"`` or ``"node:3"`` (three channels; for ``node_vector`` the ``C`` of
    (B, N, C, d)), or as a tuple ``("node", 3)``. ``position`` fields have one channel. The
    learned samplers read their input sizes off the channel counts.
    """

    type: FieldType
    channels: int | None = None

    @classmethod
    def parse(cls, value: str | FieldType | tuple | FieldSpec, name: str = "field") -> FieldSpec:
        """Parse ``"node"``, ``"node:3"``, ``("node", 3)``, a ``FieldType`` or a ``FieldSpec``."""
        if isinstance(value, FieldSpec):
            return value
        channels: object = None
        if isinstance(value, tuple):
            if len(value) != 2:
                raise ValueError(f"{name}: expected (type, channels), got {value!r}")
            value, channels = value
        elif isinstance(value, str) and not isinstance(value, FieldType) and ":" in value:
            value, _, text = value.partition(":")
            try:
                channels = int(text)
            except ValueError:
                raise ValueError(
                    f"{name}: channel count {text!r} in {value + ':' + text!r} is not an integer"
                ) from None
        ftype = FieldType.parse(value, name)
        if channels is not None and (
            isinstance(channels, bool) or not isinstance(channels, int) or channels < 1
        ):
            raise ValueError(f"{name}: channel count must be a positive integer, got {channels!r}")
        if ftype == FieldType.POSITION:
            if channels not in (None, 1):
                raise ValueError(f"{name}: a position field has one channel, got {channels}")
            channels = 1
        return cls(ftype, channels)

    def __str__(self) -> str:
        return self.type.value if self.channels is None else f"{self.type.value}:{self.channels}"


def parse_field_specs(
    spec: dict[str, str | FieldType | tuple | FieldSpec], what: str
) -> dict[str, FieldSpec]:
    """Parse a ``{name: spec}`` mapping (see :class:`FieldSpec`), naming the bad entry."""
    if not isinstance(spec, dict) or not spec:
        raise ValueError(
            f"{what}: expected a non-empty mapping of name -> field type, got {spec!r}"
        )
    return {k: FieldSpec.parse(v, f"{what}[{k!r}]") for k, v in spec.items()}


def parse_field_types(spec: dict[str, str | FieldType], what: str) -> dict[str, FieldType]:
    """Parse a ``{name: type}`` mapping (channel counts allowed and dropped)."""
    return {k: s.type for k, s in parse_field_specs(spec, what).items()}


def total_channels(
    specs: dict[str, FieldSpec], ftype: FieldType, names: list[str] | None = None
) -> int | None:
    """Sum of the declared channels of the fields of type ``ftype`` (or of ``names``);
    0 when there is none, None when one of them does not declare its channels."""
    chosen = [n for n, s in specs.items() if s.type == ftype] if names is None else names
    counts = [specs[n].channels for n in chosen]
    return None if any(c is None for c in counts) else sum(counts)


def check_field(
    name: str,
    value: Tensor,
    ftype: FieldType,
    batch: int | None = None,
    num_nodes: int | None = None,
    dim: int | None = None,
    channels: int | None = None,
    label: str | None = None,
) -> None:
    """Raise ``ValueError`` naming the field if ``value`` does not fit ``ftype``.

    Args:
        batch: expected B, if known.
        num_nodes: expected N, if known.
        dim: expected spatial dimension d for vectors and positions, if known.
        channels: the declared channel count C, if any.
        label: how to name the field in messages (default ``field 'name'``).
    """
    what = label or f"field {name!r}"
    if not isinstance(value, Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(value).__name__}")
    shape = tuple(value.shape)
    expected = SHAPES[ftype]
    head = f"{what} ({ftype.value})"
    if value.dim() < MIN_DIMS[ftype] or (
        ftype in (FieldType.NODE, FieldType.POSITION) and value.dim() != 3
    ):
        raise ValueError(f"{head}: got shape {shape}, expected {expected}")
    if batch is not None and shape[0] != batch:
        raise ValueError(
            f"{head}: batch size {shape[0]} does not match the other inputs' {batch}; "
            f"shape {shape}, expected {expected}"
        )
    if ftype in (FieldType.NODE, FieldType.PAIR, FieldType.NODE_VECTOR, FieldType.POSITION):
        if num_nodes is not None and shape[1] != num_nodes:
            raise ValueError(
                f"{head}: {shape[1]} nodes, but the mask/other inputs have N={num_nodes}; "
                f"shape {shape}, expected {expected}"
            )
        if ftype == FieldType.PAIR and shape[2] != shape[1]:
            raise ValueError(
                f"{head}: the two node axes differ; shape {shape}, expected {expected}"
            )
    if (
        dim is not None
        and ftype in (FieldType.NODE_VECTOR, FieldType.POSITION)
        and shape[-1] != dim
    ):
        raise ValueError(
            f"{head}: last axis is {shape[-1]}, but the group acts in d={dim}; "
            f"shape {shape}, expected {expected} with d={dim}"
        )
    if channels is not None and ftype != FieldType.POSITION:
        axis = {FieldType.NODE_VECTOR: 2, FieldType.IMAGE: 1}.get(ftype, -1)
        if value.dim() >= 2 and shape[axis] != channels:
            raise ValueError(
                f"{head}: {shape[axis]} channels, but {channels} were declared; "
                f"shape {shape}, expected {expected} with C={channels}"
            )


def check_mask(mask: Tensor, batch: int, num_nodes: int) -> None:
    """Check a node mask: boolean, shape (B, N), real nodes first, at least one per graph."""
    if mask.dtype != torch.bool:
        raise ValueError(f"mask: expected dtype torch.bool, got {mask.dtype}")
    if tuple(mask.shape) != (batch, num_nodes):
        raise ValueError(
            f"mask: got shape {tuple(mask.shape)}, expected (B, N) = {(batch, num_nodes)}"
        )
    counts = mask.sum(1)
    if bool((counts == 0).any()):
        bad = int((counts == 0).nonzero()[0, 0])
        raise ValueError(f"mask: graph {bad} has no real node")
    prefix = torch.arange(num_nodes, device=mask.device)[None, :] < counts[:, None]
    if not torch.equal(prefix, mask):
        bad = int((prefix != mask).any(1).nonzero()[0, 0])
        raise ValueError(
            f"mask: graph {bad} has padding before a real node; real nodes must come first "
            "(the layout of torch_geometric.utils.to_dense_batch)"
        )


def infer_sizes(
    inputs: dict[str, Tensor], types: dict[str, FieldType]
) -> tuple[int, int | None, int | None]:
    """Return (B, N, d) read off the inputs (N and d are None when no field has them)."""
    batch = num_nodes = dim = None
    for name, ftype in types.items():
        x = inputs[name]
        if not isinstance(x, Tensor):
            raise TypeError(f"field {name!r}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 0:
            raise ValueError(
                f"field {name!r} ({ftype.value}): got a scalar, expected {SHAPES[ftype]}"
            )
        batch = x.shape[0] if batch is None else batch
        if ftype in (FieldType.NODE, FieldType.PAIR, FieldType.NODE_VECTOR, FieldType.POSITION):
            num_nodes = x.shape[1] if num_nodes is None else num_nodes
        if ftype in (FieldType.NODE_VECTOR, FieldType.POSITION):
            dim = x.shape[-1] if dim is None else dim
    return batch, num_nodes, dim
