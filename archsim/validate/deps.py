"""The optional torch dependency of ``archsim validate`` / ``archsim calibrate``.

Everything else in archsim works without torch; these two commands need it and say exactly how
to install it when it is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from archsim.spec.errors import SpecError

TORCH_VERSION = "2.13.0"
"""The torch version archsim's validation was developed and measured with (pyproject [dev])."""

INSTALL_LINE = f'pip install "archsim[torch]"   (or: pip install torch=={TORCH_VERSION})'


def require_torch() -> ModuleType:
    """Import and return torch; SpecError with the exact install line when it is missing."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise SpecError([f"PyTorch is not installed; this command needs it. Install it with: "
                         f"{INSTALL_LINE}"]) from None
