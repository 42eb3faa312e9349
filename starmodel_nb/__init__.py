"starmodel_nb: one entity class gives UI, routes, storage and real-time updates."
__version__ = "0.1.0"

from .core import Entity, StateStore, Scope, event, every, registry
from sqlmodel import Field

_LAZY = {"create_app": "factory", "Settings": "config", "load_settings": "config",
         "serve": "notebook", "show": "notebook", "inspect": "notebook", "on": "app.reactions", "Store": "app.uow"}
__all__ = ["Entity", "Field", "StateStore", "Scope", "event", "every", "registry", *_LAZY]

def __getattr__(name):
    "Import the web stack only when it is first used."
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'starmodel_nb' has no attribute {name!r}")
