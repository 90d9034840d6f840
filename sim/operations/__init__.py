"""EWS operation handlers, one module per operation (like exchangelib's `services`).

Adding an operation is adding a module here with an `Operation` subclass; the registry finds it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from sim.operations.base import Operation, RequestContext, StreamingResult, StreamTiming


def _discover() -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Operation)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
            ):
                found[cls.name] = cls()
    return found


OPERATIONS: dict[str, Operation] = _discover()

__all__ = ["OPERATIONS", "Operation", "RequestContext", "StreamTiming", "StreamingResult"]
