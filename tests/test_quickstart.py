"""The README's quick start, as a user types it: `pip install . && agora serve`, then
`pip install -e ".[test]"` in the same environment, and `agora serve` must still start.

Slow (a fresh virtual environment, dependencies from pip's cache or the index, numba compiling
the kernels twice): minutes, not seconds. It guards what no in-tree test can see: files the
running server writes into its own installed package (numba's `cache=True` kernels did, and
the folder they left behind shadowed the editable install after the uninstall).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT_S = 1200     # llama-cpp-python builds from source when pip's cache lacks its wheel
START_TIMEOUT_S = 300    # a cold numba cache compiles every kernel before the server listens


def _copy_checkout(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked, plus new files not ignored): `pip install .`
    writes build/ and *.egg-info beside the sources, which must not land in the real checkout."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
    return dest


def _venv_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NUMBA_CACHE_DIR")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _pip_install(venv: Path, checkout: Path, env: dict[str, str], *spec: str) -> None:
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                           "--quiet", *spec], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=PIP_TIMEOUT_S)
    assert done.returncode == 0, f"pip install {' '.join(spec)} failed:\n{done.stdout}\n{done.stderr}"


def _serve_starts_and_stops(venv: Path, checkout: Path, data: Path, env: dict[str, str]) -> None:
    """Start `agora serve` from the venv's bin, wait until /health answers, stop it with Ctrl-C."""
    proc = subprocess.Popen([str(venv / "bin" / "agora"), "serve", "--port", "0", "--data", str(data),
                             "--agents", "", "--brain", "scripted"],
                            cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        listening = proc.stdout.readline()      # "" when it exits first (an ImportError, say)
        if not listening.startswith("Agora listening on ws://"):
            proc.wait(timeout=START_TIMEOUT_S)
            pytest.fail(f"agora serve exited {proc.returncode} before listening:\n{listening}{proc.stderr.read()}")
        port = int(listening.split()[3].rsplit(":", 1)[1])
        # Answered by the running loop, so its Ctrl-C handler is in place (the line comes just before).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=60) as reply:
            assert reply.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.timeout(2 * PIP_TIMEOUT_S + 2 * START_TIMEOUT_S)
def test_readme_install_then_editable_install_still_serves(tmp_path):
    checkout = _copy_checkout(tmp_path / "agora")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = _venv_env(venv)                                   # pip keeps the user's cache (its wheels)
    serve_env = {**env, "XDG_CACHE_HOME": str(tmp_path / "cache")}     # the server's, in this tmp dir
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip())

    _pip_install(venv, checkout, env, ".")
    _serve_starts_and_stops(venv, checkout, tmp_path / "data", serve_env)
    assert not list((site / "world").rglob("*.nbi")), "numba wrote its cache into the installed package"

    _pip_install(venv, checkout, env, "-e", ".[test]")
    assert not (site / "world").exists(), "the uninstall left a world/ folder that shadows the editable install"
    _serve_starts_and_stops(venv, checkout, tmp_path / "data", serve_env)
    assert list((tmp_path / "cache" / "agora" / "numba").rglob("*.nbi")), "numba's cache is not in the user's cache folder"
