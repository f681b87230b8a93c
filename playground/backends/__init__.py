"""Backends: one module each, behind the small :class:`Backend` protocol.

Heavy libraries (torch, transformers) are imported only when a transformers model is used, so an
app that only talks to vLLM starts fast.
"""

from playground.backends.base import Backend
from playground.backends.registry import BackendPool

__all__ = ["Backend", "BackendPool"]
