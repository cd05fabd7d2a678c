"""Agora world server: protocol, simulation, spaces, persistence and networking."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__version__ = "0.1.0"


def numba_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where numba keeps compiled `cache=True` kernels: $XDG_CACHE_HOME/agora/numba (~/.cache/agora/numba)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "agora" / "numba"


def _use_user_numba_cache() -> None:
    # By default numba writes its cache beside the source, in world/**/__pycache__. For an
    # installed package that is site-packages: an uninstall (which removes only the files it
    # installed) leaves world/ behind holding those caches, and that leftover folder then
    # shadows an editable install as an empty namespace package (`cannot import name 'Bodies'
    # from 'world.sim' (unknown location)`). A per-user folder survives no install it belongs to.
    if os.environ.get("NUMBA_CACHE_DIR"):
        return                                  # the user chose: keep it
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None and getattr(numba_config, "CACHE_DIR", ""):
        return                                  # set in numba's own config (.numba_config.yaml or code)
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        # No writable home (a service account, a read-only container): still not site-packages.
        path = Path(tempfile.gettempdir()) / f"agora-numba-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    if numba_config is not None:
        # numba read its environment when it was imported; kernels decorated from now on ask
        # numba.config, and its reload (on the next compile) now sees the same value in os.environ.
        numba_config.CACHE_DIR = str(path)


_use_user_numba_cache()
