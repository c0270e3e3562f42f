"""How group elements are chosen for an input: haar, frame, canonical, learned.

Samplers are found by name in a registry (:func:`register_sampler`, :func:`list_samplers`).
A registered builder is called as ``builder(group, inputs, args)`` with the group, the
declared input fields ``{name: FieldSpec}`` (channel counts give the network sizes) and the
user's settings dict, and returns a :class:`Sampler`; it raises
:class:`UnsupportedGroupError` for a group it has no construction for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lps.fields import FieldSpec, FieldType, total_channels
from lps.groups import Group, get_group
from lps.registry import Registry
from lps.samplers.base import (
    Sampler,
    SamplerOutput,
    UnsupportedGroupError,
    inputs_dtype,
    repeat_rows,
)
from lps.samplers.frame import FrameNoise, FrameSampler
from lps.samplers.haar import HaarSampler
from lps.samplers.learned import LearnedPermutationSampler, dense_edge_index, repeat_edge_index
from lps.samplers.learned_image import LearnedImageSampler
from lps.samplers.learned_rigid import LearnedRigidSampler
from lps.samplers.relax import scores_to_perm, sinkhorn, sinkhorn_log, softsort, sort_scores
from lps.samplers.settings import (
    FrameArgs,
    ImageSamplerArgs,
    NoArgs,
    PermSamplerArgs,
    RigidSamplerArgs,
    parse_args,
)

__all__ = [
    "FRAMES",
    "FrameArgs",
    "FrameNoise",
    "FrameSampler",
    "HaarSampler",
    "ImageSamplerArgs",
    "LearnedImageSampler",
    "LearnedPermutationSampler",
    "LearnedRigidSampler",
    "PermSamplerArgs",
    "RigidSamplerArgs",
    "RigidScaleFrame",
    "SAMPLERS",
    "SAMPLER_NAMES",
    "Sampler",
    "SamplerOutput",
    "ScaleFrame",
    "TranslationFrame",
    "UnsupportedGroupError",
    "build_sampler",
    "dense_edge_index",
    "inputs_dtype",
    "list_samplers",
    "register_frame",
    "register_sampler",
    "repeat_edge_index",
    "repeat_rows",
    "sampler_settings",
    "scores_to_perm",
    "sinkhorn",
    "sinkhorn_log",
    "softsort",
    "sort_scores",
]

SamplerBuilder = Callable[[Group, "dict[str, FieldSpec] | None", dict[str, Any]], Sampler]

#: Sampler builders by name.
SAMPLERS: Registry[SamplerBuilder] = Registry("sampler")


def register_sampler(name: str, *, overwrite: bool = False):
    """Decorator: register ``builder(group, inputs, args) -> Sampler`` under ``name``."""
    return SAMPLERS.register(name, overwrite=overwrite)


def list_samplers() -> list[str]:
    """The registered sampler names."""
    return SAMPLERS.names()


def build_sampler(
    name: str,
    group: str | Group,
    *,
    inputs: dict[str, FieldSpec] | None = None,
    **args: Any,
) -> Sampler:
    """Build the sampler ``name`` for ``group``.

    ``inputs`` are the declared input fields; the learned samplers read their sizes off
    their channel counts (or take ``in_dim`` / ``scalar_dim`` / ``vector_dim`` /
    ``pair_dim`` in ``args``). ``args`` are the sampler's settings (see
    :mod:`lps.samplers.settings`); an unknown one is an error listing the accepted ones.
    """
    group = get_group(group)
    return SAMPLERS.get(name)(group, inputs, dict(args))


def sampler_settings(name: str, group: str | Group) -> type:
    """The dataclass of settings that sampler ``name`` takes for ``group`` (NoArgs for a
    sampler registered by a user, which validates its own arguments)."""
    group = get_group(group)
    if name in ("learned", "canonical"):
        if group.kind == "image_rotation":
            return ImageSamplerArgs
        return PermSamplerArgs if group.kinds == ("permutation",) else RigidSamplerArgs
    return {"haar": NoArgs, "frame": FrameArgs}.get(name, NoArgs)


@register_sampler("haar")
def _haar(group: Group, inputs, args: dict[str, Any]) -> Sampler:
    parse_args(NoArgs, args, f"sampler 'haar' for {group.name}")
    if not group.compact:
        raise UnsupportedGroupError(
            f"sampler 'haar': {group.name} is not compact, so it has no Haar (uniform) "
            "distribution to average over; use 'frame'"
        )
    return HaarSampler(group)


#: Frame samplers by group kind (``Group.kind``): a new group with a frame registers its
#: frame sampler here, ``register_frame("my_kind")(MyFrame)``; ``MyFrame(group, **args)``.
FRAMES: Registry[Callable[..., Sampler]] = Registry("frame")


def register_frame(kind: str, *, overwrite: bool = False):
    """Decorator: the frame sampler class (``cls(group, **sampler_args)``) of group ``kind``."""
    return FRAMES.register(kind, overwrite=overwrite)


for _kind in ("permutation", "rigid", "permutation x rigid", "rigid x permutation"):
    register_frame(_kind)(FrameSampler)

# Frame files that register their own kinds (one file per frame; import it here).
from lps.samplers.frame_scale import RigidScaleFrame, ScaleFrame  # noqa: E402
from lps.samplers.frame_translation import TranslationFrame  # noqa: E402


@register_sampler("frame")
def _frame(group: Group, inputs, args: dict[str, Any]) -> Sampler:
    if group.kind not in FRAMES:
        raise UnsupportedGroupError(
            f"sampler 'frame': no frame is registered for group {group.name} (kind "
            f"{group.kind!r}); frames exist for kinds {', '.join(FRAMES.names())}"
        )
    cls = FRAMES.get(group.kind)
    if cls is FrameSampler:
        args = vars(parse_args(FrameArgs, args, f"sampler 'frame' for {group.name}"))
    return cls(group, **args)


def _size(
    what: str,
    key: str,
    args: dict[str, Any],
    inferred: int | None,
    fields: list[str],
    default: int | None = None,
) -> int:
    """A network size: given in ``args[key]``, read off the declared channels, or (when no
    inputs were declared) ``default``."""
    given = args.pop(key, None)
    if given is None and inferred is None and default is not None:
        return default
    if given is not None:
        if inferred is not None and given != inferred:
            raise ValueError(
                f"{what}: {key}={given} disagrees with the declared channels of "
                f"{fields} ({inferred})"
            )
        return given
    if inferred is None:
        raise ValueError(
            f"{what} needs the channel count of the inputs {fields}: declare them as "
            f"e.g. 'node:3' in inputs, or pass sampler_args={{'{key}': ...}}"
        )
    return inferred


def _learned_builder(canonical: bool) -> SamplerBuilder:
    name = "canonical" if canonical else "learned"

    def build(group: Group, inputs, args: dict[str, Any]) -> Sampler:
        what = f"sampler {name!r} for {group.name}"
        specs = inputs or {}

        def channels(ftype: FieldType, names: list[str] | None = None):
            chosen = [n for n, s in specs.items() if s.type == ftype] if names is None else names
            missing = [n for n in chosen if n not in specs]
            if missing:
                raise ValueError(f"{what}: {missing} are not inputs ({sorted(specs)})")
            known = inputs is not None
            return (total_channels(specs, ftype, chosen) if known else None), chosen

        kinds = set(group.kinds)
        if kinds == {"image_rotation"}:
            in_ch, fields = channels(FieldType.IMAGE, args.get("image_fields"))
            size = _size(what, "in_channels", args, in_ch, fields)
            settings = parse_args(ImageSamplerArgs, args, what)
            return LearnedImageSampler(group, size, canonical=canonical, **vars(settings))
        if kinds == {"permutation"}:
            in_dim, fields = channels(FieldType.NODE, args.get("node_fields"))
            size = _size(what, "in_dim", args, in_dim, fields)
            settings = parse_args(PermSamplerArgs, args, what)
            return LearnedPermutationSampler(group, size, canonical=canonical, **vars(settings))
        if "rigid" in kinds and kinds <= {"permutation", "rigid"}:
            sizes = {}
            for key, ftype in (
                ("scalar_dim", FieldType.NODE),
                ("vector_dim", FieldType.NODE_VECTOR),
                ("pair_dim", FieldType.PAIR),
            ):
                default = 0 if inputs is None else None  # old callers: sizes default to 0
                sizes[key] = _size(what, key, args, *channels(ftype), default=default)
            settings = parse_args(RigidSamplerArgs, args, what)
            return LearnedRigidSampler(group, **sizes, canonical=canonical, **vars(settings))
        raise UnsupportedGroupError(
            f"{what}: there is no learned sampler for groups of kind {group.kind!r} yet; use 'haar'"
        )

    return build


register_sampler("learned")(_learned_builder(canonical=False))
register_sampler("canonical")(_learned_builder(canonical=True))

#: The built-in sampler names (all registered ones: :func:`list_samplers`).
SAMPLER_NAMES = ("haar", "frame", "canonical", "learned")
