"""Tokens: the hash, the configuration (settings file, tokens file, environment), and the
``stream-guard api hash-token`` and ``stream-guard api`` commands' checks."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml
from typer.testing import CliRunner

from stream_guard.api.config import ApiConfig, TokenEntry, all_tokens, read_tokens_file
from stream_guard.api.tokens import check_hash, hash_token, key_id_of, new_token, verify_hash
from stream_guard.cli import app
from stream_guard.core.errors import ConfigError
from stream_guard.settings import load_settings


def test_hash_is_salted_and_checks_only_its_token():
    token = new_token("abcd1234")
    a, b = hash_token(token, n=1024), hash_token(token, n=1024)
    assert a != b  # salted
    assert verify_hash(token, a) and verify_hash(token, b)
    assert not verify_hash(new_token("abcd1234"), a)
    assert not verify_hash(token, a.replace("n=1024", "n=2048"))
    assert token not in a and token.split("_")[-1] not in a
    check_hash(a)
    for bad in ("sha256$abc", a.replace("n=1024", "n=1000"), a.rsplit("$", 1)[0] + "$AAAA", "scrypt$n=1024,r=8,p=1$$x"):
        with pytest.raises(ValueError):
            check_hash(bad)


def test_token_format():
    t = new_token()
    assert t.startswith("sg_") and len(t.split("_", 2)[2]) == 43 and key_id_of(t) == t.split("_")[1]
    for bad in ("sg_short_" + "x" * 43, "sg_UPPERCASE1_" + "x" * 43, "sg_abcd1234_tooshort", "Bearer x", ""):
        assert key_id_of(bad) is None, bad
    with pytest.raises(ValueError):
        new_token("Bad-Id")


def _entry(**kw) -> dict:
    e = {"id": "abcd1234", "subject": "agent-park", "role": "agent", "languages": ["ko"],
         "hash": hash_token(new_token("abcd1234"), n=1024)}
    return {**e, **kw}


def test_token_entries_are_validated():
    TokenEntry(**_entry())
    for bad in ({"role": "root"}, {"id": "AB"}, {"subject": ""}, {"subject": "a b"}, {"hash": "plain"}, {"extra": 1}):
        with pytest.raises(ValueError):
            TokenEntry(**_entry(**bad))
    with pytest.raises(ValueError, match="twice"):
        ApiConfig(tokens=[_entry(), _entry(subject="other")])


def test_tokens_file_toml_yaml_and_errors(tmp_path):
    one, two = _entry(), _entry(id="efgh5678", role="admin", languages=["*"])
    toml = tmp_path / "tokens.toml"
    toml.write_text("\n".join(["[[tokens]]", *(f"{k} = {json.dumps(v)}" for k, v in one.items())]))
    yml = tmp_path / "tokens.yaml"
    yml.write_text(yaml.safe_dump({"tokens": [one, two]}))
    assert [e.subject for e in read_tokens_file(toml)] == ["agent-park"]
    assert [e.role for e in read_tokens_file(yml)] == ["agent", "admin"]
    with pytest.raises(ConfigError, match="configured twice"):
        all_tokens(ApiConfig(tokens=[TokenEntry(**one)], tokens_file=toml))
    assert len(all_tokens(ApiConfig(tokens=[TokenEntry(**two)], tokens_file=toml))) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tokens": [_entry(role="root")]}))
    with pytest.raises(ConfigError, match=r"tokens\.0: role"):
        read_tokens_file(bad)
    bad.write_text("users: []")
    with pytest.raises(ConfigError, match="only a `tokens` list"):
        read_tokens_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        read_tokens_file(tmp_path / "missing.toml")


def test_tokens_from_the_settings_file_and_the_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "stream-guard.toml"
    e = _entry()
    cfg.write_text("[api]\nconsole = false\n[[api.tokens]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in e.items()))
    s = load_settings(cfg)
    assert s.api.console is False and s.api.tokens[0].subject == "agent-park"
    monkeypatch.setenv("STREAM_GUARD_API__TOKENS_FILE", str(tmp_path / "t.yaml"))
    assert load_settings().api.tokens_file == tmp_path / "t.yaml"


def test_hash_token_command_prints_the_entry_and_the_token_apart(tmp_path):
    res = CliRunner().invoke(app, ["api", "hash-token", "--subject", "agent-park", "--role", "agent", "--lang", "ko", "--lang", "en"])
    assert res.exit_code == 0, res.output
    doc = tomllib.loads(res.stdout)
    entry = TokenEntry(**doc["tokens"][0])
    token = res.stderr.strip().splitlines()[-1]
    assert key_id_of(token) == entry.id and entry.languages == ["ko", "en"] and entry.role == "agent"
    assert verify_hash(token, entry.hash)
    assert token not in res.stdout
    # the printed entry is a tokens file as it is
    f = tmp_path / "tokens.toml"
    f.write_text(res.stdout)
    assert read_tokens_file(f)[0].id == entry.id

    res = CliRunner().invoke(app, ["api", "hash-token", "-s", "kim", "-r", "analyst", "--stdin", "-f", "yaml"], input=token + "\n")
    assert res.exit_code == 0, res.output
    again = TokenEntry(**yaml.safe_load(res.stdout)[0])
    assert again.id == entry.id and verify_hash(token, again.hash) and token not in res.output
    res = CliRunner().invoke(app, ["api", "hash-token", "-s", "kim", "-r", "admin", "-f", "json", "--key-id", "lead0001"])
    assert res.exit_code == 0 and json.loads(res.stdout)["id"] == "lead0001"

    for args, stdin in ((["-s", "x", "-r", "root"], None), (["-s", "x", "-r", "agent", "--stdin"], "not-a-token\n"),
                        (["-s", "x", "-r", "agent", "-f", "xml"], None), (["-s", "x", "-r", "agent", "--key-id", "X"], None)):
        res = CliRunner().invoke(app, ["api", "hash-token", *args], input=stdin)
        assert res.exit_code == 2, (args, res.output)
        assert "error:" in res.stderr


def test_api_refuses_to_start_without_tokens(tmp_path, monkeypatch):
    monkeypatch.delenv("STREAM_GUARD_API__TOKENS_FILE", raising=False)
    monkeypatch.delenv("STREAM_GUARD_API__TOKENS", raising=False)
    monkeypatch.delenv("STREAM_GUARD_CONFIG", raising=False)
    res = CliRunner().invoke(app, ["api", "--port", "1"])
    assert res.exit_code == 2 and "no API tokens configured" in res.stderr
    bad = tmp_path / "tokens.toml"
    bad.write_text("[[tokens]]\nid = 'x'\n")
    res = CliRunner().invoke(app, ["api", "--tokens", str(bad)])
    assert res.exit_code == 2 and "tokens.0" in res.stderr
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"tokens": [_entry()]}))
    res = CliRunner().invoke(app, ["api", "--tokens", str(good), "--redis", "http://127.0.0.1:6379"])
    assert res.exit_code == 2 and "unsupported Redis URL" in res.stderr
