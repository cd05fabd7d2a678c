"""Session tokens kept between visits, per server and display name, for `agora talk` and `agora client`.

A token is the whole identity of an account (protocol §3.2): without it the next visit is
a new user, and the AI companion has forgotten you. So both clients keep the token of
every welcome in `$XDG_CONFIG_HOME/agora/tokens.json` (default `~/.config/agora/`), the
folder 0700 and the file 0600 from the moment it exists, replaced atomically so a crash
mid-write leaves the old file. Keys are the server URL as given minus a trailing slash,
then the display name exactly as typed (the server compares names case-sensitively too).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

try:
    import fcntl
except ImportError:          # Windows: no advisory locks; concurrent writers may lose an entry
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "tokens.json"
FORMAT = 1
DIR_MODE = 0o700
FILE_MODE = 0o600
# The server closes with 4001 for a token it does not know (data wiped, another server);
# a bad_token closed with 4006 lost a race with a concurrent sign-in of the same account,
# and joining as a new user then would abandon an account that still exists.
UNKNOWN_TOKEN_CLOSE = 4001


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/agora`, or `~/.config/agora` when the variable is unset or empty."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "agora"


def server_key(url: str) -> str:
    """The URL as the user gave it, minus trailing slashes (`ws://h:8765/` = `ws://h:8765`)."""
    return url.rstrip("/")


class Choice(NamedTuple):
    """Which token a client says hello with, and where it came from."""

    token: str | None
    source: str              # "explicit" (--token), "stored" (kept from a visit), "new" (none)


class TokenStore:
    """Tokens by server and name in one JSON file; every `put` rewrites it atomically."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = config_dir() if folder is None else folder
        self.path = self.folder / FILE_NAME

    def get(self, url: str, name: str) -> str | None:
        token = self._read().get(server_key(url), {}).get(name)
        return token if isinstance(token, str) and token else None

    def put(self, url: str, name: str, token: str) -> None:
        """Keep `token` for (url, name), replacing any older one."""
        with self._locked():
            tokens = self._read()
            tokens.setdefault(server_key(url), {})[name] = token
            self._write(tokens)

    def choose(self, url: str, name: str, token: str | None = None, new: bool = False) -> Choice:
        """--token wins; --new joins as a new user; otherwise the kept token, if any."""
        if token is not None:
            return Choice(token, "explicit")
        if not new:
            kept = self.get(url, name)
            if kept is not None:
                return Choice(kept, "stored")
        return Choice(None, "new")

    # -- the file -----------------------------------------------------------------------------------
    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # An existing folder keeps whatever mode it had; it is ours, so close it.
        os.chmod(self.folder, DIR_MODE)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Two clients starting at once must not drop each other's entry (read-modify-write)."""
        self._ensure_folder()
        if fcntl is None:
            yield
            return
        fd = os.open(self.folder / (FILE_NAME + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # Unreadable: keep it aside rather than overwrite tokens someone may still recover.
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_name(FILE_NAME + ".bad"))
            return {}
        servers = data.get("servers") if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            return {}
        return {k: v for k, v in servers.items() if isinstance(v, dict)}

    def _write(self, tokens: dict[str, dict[str, Any]]) -> None:
        # mkstemp creates the file 0600 before a byte is written: never world-readable, even briefly.
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"format": FORMAT, "servers": tokens}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def refused_as_unknown(code: str, close_code: int | None) -> bool:
    """Whether a hello refusal means the server does not know the token at all."""
    return code == "bad_token" and close_code in (None, UNKNOWN_TOKEN_CLOSE)
