"""Configuration: TOML file < AGORA_* environment < flags; a bad value or key is one clear line
naming the field, its source and what is allowed (and `agora serve` / `agora admin` exit 2)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from world.config import Config, ConfigError, exposure_notice, load_config, require_brain_endpoint

ROOT = Path(__file__).resolve().parents[1]


def toml_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agora.toml"
    path.write_text(text)
    return path


def refused(path: Path | None = None, env: dict[str, str] | None = None, **flags: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env, **flags)
    assert "\n" not in str(info.value)
    return info.value


def as_text(value: object) -> str:
    """A default as someone would type it into an environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


# -- precedence -------------------------------------------------------------------------------

def test_file_then_environment_then_flags_take_precedence(tmp_path):
    path = toml_file(tmp_path, 'tick_hz = 20\ninterest_radius = 30\nbrain = "scripted"\nagents = "guide"\n')
    env = {"AGORA_TICK_HZ": "25", "AGORA_AGENTS": ""}
    cfg = load_config(path, env=env, tick_hz=40, world=None)
    assert cfg.tick_hz == 40                     # flag over environment over file
    assert cfg.agents == ""                      # environment over file ("" = no agents is a value)
    assert cfg.interest_radius == 30.0 and isinstance(cfg.interest_radius, float)   # file over default
    assert cfg.brain == "scripted"
    assert cfg.world == Config().world           # a flag left unset (None) is not given


def test_environment_text_becomes_each_fields_type():
    cfg = load_config(None, env={"AGORA_LOG_JSON": "yes", "AGORA_RATE_CHAT": "1.5, 4", "AGORA_BRAIN": "OpenAI",
                                 "AGORA_SYNCHRONOUS": "normal", "AGORA_WALK_SPEED": "2"})
    assert cfg.log_json is True
    assert cfg.rate_chat == (1.5, 4.0)
    assert cfg.brain == "openai" and cfg.synchronous == "NORMAL"     # spelled as the code expects
    assert cfg.walk_speed == 2.0


def test_every_default_passes_its_own_checks_from_every_source(tmp_path):
    # Generic over the dataclass: a field added later with a default its constraints refuse fails here.
    defaults = {k: v for k, v in dataclasses.asdict(Config()).items() if v is not None}   # None: not given
    assert load_config(None, env={}, **defaults) == Config()
    env = {"AGORA_" + k.upper(): as_text(v) for k, v in defaults.items()}
    assert load_config(None, env=env) == Config()
    lines = [f"{k} = {list(v)!r}" if isinstance(v, tuple) else f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
             for k, v in defaults.items()]
    path = toml_file(tmp_path, "\n".join(line.replace("'", '"') for line in lines) + "\n")
    assert load_config(path, env={}) == Config()


# -- bad values, from each source ---------------------------------------------------------------

def test_a_non_number_in_the_environment_names_the_variable_and_what_is_allowed():
    err = refused(env={"AGORA_TICK_HZ": "abc"})
    assert (err.code, err.field) == ("bad_value", "tick_hz")
    assert str(err) == "bad tick_hz 'abc' from environment variable AGORA_TICK_HZ: expected an integer from 1 to 1000"


@pytest.mark.parametrize("rate", [0, -5])
@pytest.mark.parametrize("source", ["file", "env", "flag"])
def test_a_zero_or_negative_tick_rate_is_refused_from_each_source(tmp_path, source, rate):
    if source == "file":
        err = refused(toml_file(tmp_path, f"tick_hz = {rate}\n"))
        assert f"config file {tmp_path / 'agora.toml'}" in str(err)
    elif source == "env":
        err = refused(env={"AGORA_TICK_HZ": str(rate)})
        assert "environment variable AGORA_TICK_HZ" in str(err)
    else:
        err = refused(tick_hz=rate)
        assert "flag --tick-hz" in str(err)
    assert err.field == "tick_hz" and "an integer from 1 to 1000" in str(err)


@pytest.mark.parametrize("line, field, allowed", [
    ('tick_hz = "30"', "tick_hz", "an integer"),                 # a string is not a number in TOML
    ("tick_hz = 30.5", "tick_hz", "an integer"),
    ("log_json = 1", "log_json", "true or false"),
    ("interest_radius = true", "interest_radius", "a finite number > 0"),
    ("interest_radius = inf", "interest_radius", "a finite number > 0"),
    ("agents = 3", "agents", "a string"),
    ("rate_chat = 3.0", "rate_chat", "2 finite numbers > 0 (an array, e.g. [3.0, 10.0])"),
    ('brain = "gpt"', "brain", "one of local, openai, scripted"),
    ("[tick_hz]\nx = 1", "tick_hz", "an integer"),
])
def test_a_wrong_type_in_the_config_file_is_refused(tmp_path, line, field, allowed):
    err = refused(toml_file(tmp_path, line + "\n"))
    assert err.field == field and allowed in str(err) and "config file" in str(err)


def test_a_tuple_with_the_wrong_count_is_refused_from_file_and_environment(tmp_path):
    err = refused(toml_file(tmp_path, "rate_input = [60.0]\n"))
    assert err.field == "rate_input" and "expected 2 finite numbers > 0" in str(err)
    err = refused(env={"AGORA_STRIKES": "5,50,500"})
    assert str(err) == ("bad strikes '5,50,500' from environment variable AGORA_STRIKES: "
                        "expected 2 finite numbers > 0 (comma-separated, e.g. 5,50)")


def test_a_boolean_that_is_not_one_is_refused_not_read_as_false():
    assert refused(env={"AGORA_LOG_JSON": "maybe"}).field == "log_json"


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", ""])
def test_a_number_that_is_not_finite_or_missing_is_refused(text):
    assert "a finite number > 0" in str(refused(env={"AGORA_WALK_SPEED": text}))


def test_an_unknown_key_in_the_config_file_is_refused_with_a_suggestion(tmp_path):
    err = refused(toml_file(tmp_path, "tick_rate = 20\nport = 9000\n"))
    assert err.code == "unknown_key"
    assert "unknown key in config file" in str(err) and "'tick_rate' (did you mean 'tick_hz'?)" in str(err)


def test_a_config_file_that_is_missing_or_not_toml_is_a_config_error(tmp_path):
    assert refused(tmp_path / "nowhere.toml").code == "bad_file"
    err = refused(toml_file(tmp_path, "tick_hz = = 3\n"))
    assert err.code == "bad_file" and "not valid TOML" in str(err)


# -- the OpenAI-compatible brain needs an endpoint someone chose -----------------------------------

def test_openai_brain_without_a_base_url_is_refused():
    with pytest.raises(ConfigError) as info:
        require_brain_endpoint(load_config(None, env={}, brain="openai"), env={})
    assert info.value.code == "no_endpoint" and "AGORA_OPENAI_BASE_URL" in str(info.value)


@pytest.mark.parametrize("name", ["AGORA_OPENAI_BASE_URL", "OPENAI_BASE_URL"])
def test_openai_brain_with_a_base_url_starts(name):
    require_brain_endpoint(load_config(None, env={}, brain="openai"), env={name: "http://127.0.0.1:8080/v1"})
    require_brain_endpoint(load_config(None, env={}, brain="local"), env={})


# -- listening beyond this machine ------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LocalHost",
                                  "::ffff:127.0.0.1"])
def test_loopback_hosts_need_no_notice(host):
    assert exposure_notice(Config(host=host)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.168.1.10", "10.0.0.5", "agora.example.org"])
def test_other_hosts_are_told_what_they_expose(host):
    notice = exposure_notice(Config(host=host))
    assert notice and "/stats" in notice and "/health" in notice and "ws://" in notice and "TLS" in notice


# -- the real command ------------------------------------------------------------------------------

def agora(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AGORA_", "OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "world.cli", *argv], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv, env, words", [
    (["serve", "--tick-hz", "0"], {}, "flag --tick-hz"),
    (["serve"], {"AGORA_TICK_HZ": "abc"}, "environment variable AGORA_TICK_HZ"),
    (["serve", "--config", "{toml}"], {}, "'tick_rate' (did you mean 'tick_hz'?)"),
    (["serve", "--brain", "openai"], {}, "AGORA_OPENAI_BASE_URL"),
    (["admin", "audit"], {"AGORA_RATE_CHAT": "3"}, "environment variable AGORA_RATE_CHAT"),
])
def test_the_command_prints_one_line_and_exits_2(tmp_path, argv, env, words):
    toml = toml_file(tmp_path, "tick_rate = 20\n")
    argv = [str(toml) if a == "{toml}" else a for a in argv] + ["--data", str(tmp_path / "data")]
    done = agora(*argv, env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"agora {argv[0]}: ") and words in done.stderr
    assert not (tmp_path / "data").exists()         # refused before touching anything


def test_a_server_on_every_interface_warns_at_start_what_it_exposes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "world.cli", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--data", str(tmp_path), "--agents", "", "--brain", "scripted"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        listening = proc.stdout.readline()
        assert listening.startswith("Agora listening on ws://0.0.0.0:"), proc.stderr.read()
        port = int(listening.split()[3].rsplit(":", 1)[1])
        # Answered by the running loop, so its Ctrl-C handler is in place (the line comes just before).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as reply:
            assert reply.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        said = proc.stderr.read().splitlines()
        assert said[0].startswith("agora serve: warning: listening on every interface (0.0.0.0)")
        assert "/stats and /health" in said[0] and "ws:// without TLS" in said[0]
        logged = [line for line in said if "event=exposed" in line]
        assert len(logged) == 1 and "level=warning" in logged[0] and "host=0.0.0.0" in logged[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
