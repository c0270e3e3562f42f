"""Typed experiment configs: YAML files validated against dataclasses with OmegaConf.

``load_config("configs/x.yaml", ["run_dir=/tmp/r", "trainer.max_steps=10"])`` merges, in
order, the defaults below, the YAML file and the dotted overrides; an unknown key or a value
of the wrong type is reported with its full dotted name before anything runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


@dataclass
class DataConfig:
    """Where the examples come from and how they are batched."""

    name: str = "exp"  # exp | nbody
    root: Optional[str] = None  # data directory (cache for generated sets)
    max_nodes: int = 64  # graphs are padded to this many nodes
    batch_size: int = 32
    eval_batch_size: int = 100
    num_workers: int = 0
    num_train: Optional[int] = None  # use only the first num_train training examples


@dataclass
class ModelConfig:
    """The base model (backbone) that is symmetrized."""

    backbone: str = "mlp"  # mlp | gin_id | vit | transformer | gnn
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.0
    heads: int = 4  # transformer/vit attention heads
    patch_size: int = 4  # vit: patch size in pixels (graph nodes)
    vit_name: str = "vit_small_patch16_224"  # vit: timm architecture name
    pretrained: Optional[str] = None  # vit: local weights file (.safetensors, .bin, .pth)


@dataclass
class SymmetryConfig:
    """The group, how elements are sampled, and the sampler network."""

    group: str = "S_n"
    sampler: str = "learned"  # learned | canonical | haar | frame
    n_samples: int = 1  # k in training
    n_samples_eval: int = 10  # k in validation and test
    validate: bool = True  # check input shapes, masks and NaNs on every call (host syncs)
    hidden: int = 64  # learned sampler width
    layers: int = 3  # learned sampler depth
    noise_dim: int = 1  # S_n: noise channels per node
    walk_steps: int = 0  # S_n: random-walk return probabilities fed to the sampler
    noise_scale: float = 1.0  # O(d): scale of the Gaussian noise vectors
    unit_scale: bool = True  # O(d): sampler inputs divided by their RMS norm (unit-free frames)
    tau: float = 0.1  # SoftSort temperature
    sinkhorn_iters: int = 10
    relax_band: Optional[int] = None  # S_n relaxation band half-width (None: dense N x N)
    entropy_weight: float = 0.0
    exact: bool = True  # frame: enumerate the whole frame (k = its size); false: sample k


@dataclass
class OptimConfig:
    """AdamW with separate settings for pretrained backbone parameters and new ones."""

    lr: float = 1e-3  # new parameters (sampler, heads, projections) and non-pretrained models
    lr_backbone: Optional[float] = None  # pretrained backbone (default: lr)
    weight_decay: float = 0.0
    weight_decay_backbone: Optional[float] = None  # default: weight_decay
    warmup_steps: int = 0
    schedule: str = "cosine"  # constant | cosine | linear (decay after warm-up)
    grad_clip: float = 1.0  # max global grad norm; 0 disables


@dataclass
class TrainerConfig:
    """The loop: steps, precision, evaluation, checkpoints, logging."""

    max_steps: int = 1000
    grad_accum: int = 1
    mixed_precision: str = "no"  # no | bf16 | fp16
    eval_every: int = 200
    checkpoint_every: int = 500
    keep_last: int = 2
    log_every: int = 20
    seed: int = 0
    tracker: str = "tensorboard"  # tensorboard | none | any accelerate tracker name
    cpu: bool = False  # force CPU even when a GPU is present
    progress: bool = True


@dataclass
class EvalConfig:
    """The final evaluation."""

    seeds: int = 3  # repeated evaluations with different sampling seeds: mean and std
    n_samples: Optional[int] = None  # k of the final val/test evaluation (None: n_samples_eval)
    equivariance_batches: int = 1  # test batches used to measure the equivariance error


@dataclass
class RunConfig:
    """One experiment."""

    task: str = "exp_classify"
    run_dir: Optional[str] = None  # default: runs/<task>-<timestamp>
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    symmetry: SymmetryConfig = field(default_factory=SymmetryConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # The task's own settings, checked against its ``Settings`` dataclass at load time.
    task_args: dict[str, Any] = field(default_factory=dict)


class ConfigError(ValueError):
    """A config file or override that does not fit :class:`RunConfig`."""


#: The config used by ``lps train`` without a path (shipped inside the package).
DEFAULT_CONFIG = "exp_classify.yaml"

_CHOICES = {
    "optim.schedule": ("constant", "cosine", "linear"),
    "trainer.mixed_precision": ("no", "bf16", "fp16"),
}

#: Value ranges: dotted key -> (lower bound, whether the bound itself is allowed, None allowed).
_RANGES: dict[str, tuple[float, bool, bool]] = {
    "data.batch_size": (1, True, False),
    "data.eval_batch_size": (1, True, False),
    "data.max_nodes": (1, True, False),
    "data.num_workers": (0, True, False),
    "data.num_train": (1, True, True),
    "model.hidden": (1, True, False),
    "model.layers": (1, True, False),
    "model.dropout": (0, True, False),
    "model.heads": (1, True, False),
    "model.patch_size": (1, True, False),
    "symmetry.n_samples": (1, True, False),
    "symmetry.n_samples_eval": (1, True, False),
    "optim.lr": (0, False, False),
    "optim.lr_backbone": (0, False, True),
    "optim.weight_decay": (0, True, False),
    "optim.weight_decay_backbone": (0, True, True),
    "optim.warmup_steps": (0, True, False),
    "optim.grad_clip": (0, True, False),
    "trainer.max_steps": (1, True, False),
    "trainer.grad_accum": (1, True, False),
    "trainer.eval_every": (1, True, False),
    "trainer.checkpoint_every": (1, True, False),
    "trainer.keep_last": (1, True, False),
    "trainer.log_every": (1, True, False),
    "eval.seeds": (1, True, False),
    "eval.n_samples": (1, True, True),
    "eval.equivariance_batches": (0, True, False),
}


def packaged_config(name: str = DEFAULT_CONFIG) -> Path:
    """Path of a config shipped in ``lps/configs``."""
    path = resources.files("lps") / "configs" / name
    if not path.is_file():
        available = sorted(p.name for p in (resources.files("lps") / "configs").iterdir())
        raise ConfigError(f"no packaged config {name!r}; available: {', '.join(available)}")
    return Path(str(path))


def load_config(path: str | os.PathLike | None = None, overrides: list[str] = ()) -> DictConfig:
    """Defaults <- YAML file <- ``key=value`` overrides, validated; returns a read-only config."""
    schema = OmegaConf.structured(RunConfig)
    path = packaged_config() if path is None else Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        file_cfg = OmegaConf.load(path)
    except Exception as err:  # yaml errors carry the line
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} is not of the form key=value (e.g. trainer.max_steps=10)"
            )
    try:
        cfg = OmegaConf.merge(schema, file_cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        raise ConfigError(
            f"config {str(path)!r}: {key or ''}: {err.msg if hasattr(err, 'msg') else err}"
        ) from None
    if OmegaConf.select(cfg, "trainer.mixed_precision") == "False":  # YAML 1.1 reads `no` as false
        cfg.trainer.mixed_precision = "no"
    check_config(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def check_config(cfg: DictConfig) -> None:
    """Value checks the types alone cannot express: choices, ranges, and names that must be
    known (group, sampler, task, backbone). Errors name the dotted key."""
    for key, choices in _CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(choices)}")
    for key, (low, inclusive, nullable) in _RANGES.items():
        value = OmegaConf.select(cfg, key)
        if value is None and nullable:
            continue
        if value is None or (value < low if inclusive else value <= low):
            bound = f">= {low}" if inclusive else f"> {low}"
            null = " or null" if nullable else ""
            raise ConfigError(f"{key}: must be {bound}{null}, got {value!r}")
    if not cfg.model.dropout < 1:
        raise ConfigError(f"model.dropout: must be < 1, got {cfg.model.dropout!r}")
    _check_names(cfg)
    _check_sampler_settings(cfg)
    _check_task_args(cfg)


def _check_sampler_settings(cfg: DictConfig) -> None:
    """The sampler's settings, checked by the sampler's own settings class."""
    from lps.samplers import sampler_settings
    from lps.samplers.settings import parse_args

    s = cfg.symmetry
    cls = sampler_settings(s.sampler, s.group)
    # Every setting in the config is checked (also those this sampler ignores), so a bad
    # value is an error whichever sampler a later override picks.
    for settings in {cls, sampler_settings("learned", "S_n"), sampler_settings("learned", "O(3)")}:
        values = {f.name: s[f.name] for f in dataclasses.fields(settings) if f.name in s}
        try:
            parse_args(settings, values, "symmetry")
        except ValueError as err:
            key = str(err).split(": ", 1)[-1].split(" ", 1)[0]
            raise ConfigError(f"symmetry.{key}: {err}") from None


def _check_task_args(cfg: DictConfig) -> None:
    """``task_args`` against the task's ``Settings`` dataclass (defaults filled in, types
    checked), then the task's own value checks (:meth:`lps.train.tasks.Task.check`)."""
    from lps.train.tasks import get_task

    task = get_task(cfg.task)
    given = OmegaConf.to_container(cfg.task_args, resolve=True)
    if task.Settings is None:
        if given:
            raise ConfigError(
                f"task_args: task {cfg.task!r} takes no task_args; got {', '.join(given)}"
            )
    else:
        try:
            typed = OmegaConf.merge(OmegaConf.structured(task.Settings), given)
        except OmegaConfBaseException as err:
            key = getattr(err, "full_key", None) or ""
            msg = err.msg if hasattr(err, "msg") else str(err)
            raise ConfigError(f"task_args.{key}: {msg} (task {cfg.task!r})") from None
        cfg.task_args = OmegaConf.to_container(typed, resolve=True)
    try:
        task.check(cfg)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_names(cfg: DictConfig) -> None:
    from lps.backbones import list_backbones
    from lps.groups import get_group
    from lps.samplers import list_samplers
    from lps.train.tasks import list_tasks

    try:
        get_group(cfg.symmetry.group)
    except ValueError as err:
        raise ConfigError(
            f"symmetry.group: {cfg.symmetry.group!r} is not a known group ({err})"
        ) from None
    known = {
        "symmetry.sampler": tuple(list_samplers()),
        "task": tuple(list_tasks()),
        "model.backbone": tuple(list_backbones()),
    }
    for key, names in known.items():
        value = OmegaConf.select(cfg, key)
        if value not in names:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(names)}")


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def to_dict(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
