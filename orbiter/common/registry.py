"""Drivers registered by short name -> "module:attribute", imported on first use."""

from importlib import import_module
from typing import Any

from orbiter.common.errors import ValidationError


class Registry:
    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def names(self) -> list[str]:
        return sorted(self._entries)

    def register(self, name: str, path: str) -> None:
        self._entries[name] = path
        self._loaded.pop(name, None)

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise ValidationError(
                f"{self.kind} driver {name!r} is unknown; available: {', '.join(self.names())}",
                field=f"{self.kind}_driver",
            )
        if name not in self._loaded:
            module, _, attr = self._entries[name].partition(":")
            self._loaded[name] = getattr(import_module(module), attr)
        return self._loaded[name]
