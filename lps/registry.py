"""Name -> builder registries, in the manner of timm's model registry.

Groups, samplers, backbones and tasks each have one :class:`Registry`. A new component is
one file that decorates its builder with the registry's ``register``; configs and the CLI
then find it by name, and an unknown name is an error that lists the known ones::

    from lps.backbones import register_backbone

    @register_backbone("my_mlp")
    def my_mlp(in_dim: int, out_dim: int, hidden: int = 64) -> nn.Module: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping of names to builders (classes or functions) of one kind of component.

    Args:
        kind: what is registered (``"group"``, ``"sampler"``, ...), used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a second use of a name is an error
        unless ``overwrite`` (so two components cannot silently shadow each other)."""
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"{self.kind} registry: a name must be a non-empty string, got {name!r}"
            )

        def deco(obj: T) -> T:
            if name in self._items and not overwrite and self._items[name] is not obj:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered (to {self._items[name]!r}); "
                    "pass overwrite=True to replace it"
                )
            self._items[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register toy components clean up with this)."""
        self.get(name)
        del self._items[name]

    def get(self, name: str) -> T:
        """The builder registered under ``name``; an unknown name lists the known ones."""
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise ValueError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
