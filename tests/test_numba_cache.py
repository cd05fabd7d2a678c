"""numba's cache of `cache=True` kernels lives in the user's cache folder, never beside the code
(an installed package's __pycache__ outlives its uninstall and shadows the next install)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from world import numba_cache_dir

ROOT = Path(__file__).resolve().parents[1]

KERNEL = textwrap.dedent("""
    import numba

    @numba.njit(cache=True)
    def twice(x):
        return 2 * x
""")


def compile_kernel(tmp_path: Path, env: dict[str, str], numba_first: bool) -> Path:
    """In a fresh interpreter: import `world` (after numba, if asked), then compile a cache=True
    kernel defined in a module of its own. Returns that module's folder."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "kernelmod.py").write_text(KERNEL)
    imports = "import numba, world" if numba_first else "import world, numba"
    script = f"{imports}\nimport kernelmod\nassert kernelmod.twice(21) == 42\n"
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120,
                   env={**base, "PYTHONPATH": f"{ROOT}{os.pathsep}{code}", **env})
    return code


def cached(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.nbi")) if folder.exists() else []


@pytest.mark.parametrize("numba_first", [False, True], ids=["world_first", "numba_first"])
def test_kernels_cache_in_the_users_cache_folder_not_beside_the_code(tmp_path, numba_first):
    xdg = tmp_path / "xdg"
    code = compile_kernel(tmp_path, {"XDG_CACHE_HOME": str(xdg)}, numba_first)
    assert cached(xdg / "agora" / "numba"), "no cache in $XDG_CACHE_HOME/agora/numba"
    assert not cached(code), "numba wrote its cache beside the code"


def test_a_numba_cache_dir_the_user_set_is_kept(tmp_path):
    mine = tmp_path / "mine"
    xdg = tmp_path / "xdg"
    code = compile_kernel(tmp_path, {"NUMBA_CACHE_DIR": str(mine), "XDG_CACHE_HOME": str(xdg)}, numba_first=False)
    assert cached(mine) and not cached(xdg) and not cached(code)


def test_the_cache_folder_follows_xdg_and_defaults_to_dot_cache():
    assert numba_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}) == Path("/var/cache/me/agora/numba")
    assert numba_cache_dir({}) == Path.home() / ".cache" / "agora" / "numba"
    assert numba_cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "agora" / "numba"
