"""memmgr: a Mem0-style memory pipeline whose manager is any LLM backend, plus the tools to distil that manager
into a small model. `import memmgr` stays light: no torch/transformers/trl until a heavy backend is used."""

from memmgr.config import BackendConfig, MemoryConfig
from memmgr.memory import Memory
from memmgr.prompts import PROMPT_VERSION
from memmgr.types import ManagerCall, MemoryItem, Message, Op, Rejection, Scope

__version__ = "0.1.0"

__all__ = ["PROMPT_VERSION", "BackendConfig", "ManagerCall", "Memory", "MemoryConfig", "MemoryItem", "Message", "Op",
           "Rejection", "Scope", "__version__"]
