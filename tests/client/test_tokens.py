"""The session-token file both clients keep: where it lives, who can read it, what it returns."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from client.tokens import Choice, TokenStore, config_dir, refused_as_unknown


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_folder_is_xdg_config_home_or_dot_config():
    assert config_dir({"XDG_CONFIG_HOME": "/x/conf"}) == Path("/x/conf/agora")
    home = Path(os.path.expanduser("~"))
    assert config_dir({}) == home / ".config" / "agora"
    assert config_dir({"XDG_CONFIG_HOME": ""}) == home / ".config" / "agora"


def test_a_token_is_kept_per_server_and_exact_name(tmp_path):
    store = TokenStore(tmp_path / "agora")
    store.put("ws://127.0.0.1:8765/", "Alice", "tok-a")
    store.put("ws://127.0.0.1:8765", "Bob", "tok-b")
    store.put("ws://other:8765", "Alice", "tok-other")
    fresh = TokenStore(tmp_path / "agora")                         # another process, later
    assert fresh.get("ws://127.0.0.1:8765", "Alice") == "tok-a"    # a trailing slash is the same server
    assert fresh.get("ws://127.0.0.1:8765//", "Bob") == "tok-b"
    assert fresh.get("ws://other:8765/", "Alice") == "tok-other"
    assert fresh.get("ws://127.0.0.1:8765", "alice") is None        # names are case-sensitive, as on the server
    store.put("ws://127.0.0.1:8765", "Alice", "tok-a2")
    assert fresh.get("ws://127.0.0.1:8765/", "Alice") == "tok-a2"


def test_the_file_is_0600_in_a_0700_folder_whatever_the_umask(tmp_path):
    folder = tmp_path / "conf" / "agora"
    old = os.umask(0)                           # a umask that would leave new files world-readable
    try:
        TokenStore(folder).put("ws://h:1", "Alice", "secret")
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    assert mode(folder / "tokens.json") == 0o600
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []    # no temp file left behind


def test_an_existing_open_folder_is_closed_to_others(tmp_path):
    folder = tmp_path / "agora"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    TokenStore(folder).put("ws://h:1", "Alice", "secret")
    assert mode(folder) == 0o700


def test_typed_token_wins_then_new_then_the_kept_one(tmp_path):
    store = TokenStore(tmp_path)
    assert store.choose("ws://h:1", "Alice") == Choice(None, "new")
    store.put("ws://h:1", "Alice", "kept")
    assert store.choose("ws://h:1/", "Alice") == Choice("kept", "stored")
    assert store.choose("ws://h:1", "Alice", new=True) == Choice(None, "new")
    assert store.choose("ws://h:1", "Alice", token="typed", new=True) == Choice("typed", "explicit")


def test_an_unreadable_file_is_kept_aside_not_overwritten(tmp_path):
    store = TokenStore(tmp_path)
    store.path.write_text("{ not json")
    assert store.get("ws://h:1", "Alice") is None
    store.put("ws://h:1", "Alice", "new")
    assert (tmp_path / "tokens.json.bad").read_text() == "{ not json"
    assert store.get("ws://h:1", "Alice") == "new"


def test_clients_starting_together_keep_every_entry(tmp_path):
    names = [f"user{i}" for i in range(12)]
    threads = [threading.Thread(target=TokenStore(tmp_path).put, args=("ws://h:1", n, f"tok-{n}")) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = TokenStore(tmp_path)
    assert {n: store.get("ws://h:1", n) for n in names} == {n: f"tok-{n}" for n in names}


def test_only_an_unknown_token_counts_as_a_reset_server():
    assert refused_as_unknown("bad_token", 4001)
    assert not refused_as_unknown("bad_token", 4006)          # lost a race with our own other sign-in
    assert not refused_as_unknown("banned", 4002)
