"""The configuration file and ``zeroauth config``: one TOML file, validated, private, portable.

Pre-registered clients per issuer (C-27, C-30), per-server settings (scopes C-37, IdP profile,
strict C-09, CIMD C-24, loopback opt-in SEC-05); show masks secrets, export leaves them out
unless asked, import merges or replaces; the library reads the same file
(``Config.client_options``).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zeroauth.cli.app import app
from zeroauth.cli.config_entries import SERVER_KEYS
from zeroauth.cli.config_file import ClientEntry, Config, ServerEntry, config_path, load_config
from zeroauth.core.errors import InvalidInput
from zeroauth.core.flow import FlowConfig

ISSUER = "https://auth.example.com/realms/x"
SERVER = "https://MCP.example.com/mcp"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    return tmp_path


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["config", *args], input=input)


def test_c27_add_client_and_set_server_write_a_private_toml_file(home):
    assert (
        cli(
            "add-client", ISSUER, "--client-id", "abc", "--secret-stdin", input="s3cret\n"
        ).exit_code
        == 0
    )
    result = cli("set-server", SERVER, "--scope", "files:read", "--idp", "entra", "--strict")
    assert result.exit_code == 0, result.output
    path = config_path()
    assert path == home / "config.toml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data["clients"][ISSUER] == {"client_id": "abc", "client_secret": "s3cret"}
    assert data["servers"]["https://mcp.example.com/mcp"] == {
        "scopes": ["files:read"],
        "idp": "entra",
        "strict": True,
    }


def test_show_masks_secrets_and_export_leaves_them_out(home):
    cli("add-client", ISSUER, "--client-id", "abc", "--secret-stdin", input="s3cret\n")
    shown = cli("show")
    assert shown.exit_code == 0
    assert "s3cret" not in shown.output
    assert "# client_secret is set" in shown.stdout
    assert (
        json.loads(cli("show", "--json").stdout)["clients"][ISSUER]["client_secret"] == "********"
    )
    exported = cli("export")
    assert "s3cret" not in exported.stdout
    assert tomllib.loads(exported.stdout)["clients"][ISSUER] == {"client_id": "abc"}
    with_secrets = cli("export", "--include-secrets")
    assert "s3cret" in with_secrets.stdout


def test_export_import_round_trip_between_machines(home, tmp_path_factory):
    cli("add-client", ISSUER, "--client-id", "abc", "--redirect-uri", "http://127.0.0.1:8765/cb")
    cli("set-server", SERVER, "--scope", "a", "--scope", "b", "--allow-loopback")
    exported = home / "exported.toml"
    assert cli("export", str(exported), "--include-secrets").exit_code == 0
    assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600
    other = tmp_path_factory.mktemp("other") / "config.toml"
    result = cli("import", str(exported), "--config", str(other))
    assert result.exit_code == 0, result.output
    assert load_config(other) == load_config()


def test_import_merges_unless_replace(home, tmp_path):
    cli("add-client", ISSUER, "--client-id", "abc")
    incoming = tmp_path / "in.toml"
    incoming.write_text('[clients."https://other.example"]\nclient_id = "xyz"\n')
    assert cli("import", str(incoming)).exit_code == 0
    assert set(load_config().clients) == {ISSUER, "https://other.example"}
    assert cli("import", str(incoming), "--replace").exit_code == 0
    assert set(load_config().clients) == {"https://other.example"}


@pytest.mark.parametrize(
    ("text", "requirement", "where"),
    [
        ("cimd_url = 'http://app.example.com/c.json'", "C-24", "cimd_url"),
        ("[servers.'https://h/mcp']\nscopes = ['a b']", "C-37", "scopes"),
        ("[servers.'https://h/mcp']\nidp = 'nope'", None, "idp"),
        ("[servers.'https://h/mcp']\nstrcit = true", None, "servers.https://h/mcp"),
        ("[clients.'https://as.example']\nclient_secret = 'x'", "C-27", "client_id"),
        ("[clients.'not a url']\nclient_id = 'x'", "C-30", "clients key"),
        ("[servers.'mcp.example.com']\nstrict = true", "C-35", "servers key"),
        ("this is = not toml =", None, ""),
        ("[servers.'https://h/mcp']\nidp = 'keycloak'\naudience = 'x'", None, "audience"),
        ("[servers.'https://h/mcp']\naudience = 'x'", None, "audience"),
        ("[servers.'https://h/mcp']\nscope_prefix = 'api://x/ y'", "C-37", "scope_prefix"),
        ("[servers.'https://h/mcp']\ndpop = 'always'", None, "dpop"),
        (
            "[servers.'https://h/mcp']\nworkload_token_file = 'f'\nworkload_token_env = 'V'",
            None,
            "workload_token_env",
        ),
        ("[servers.'https://h/mcp']\nworkload_client_id = 'c'", None, "workload_client_id"),
    ],
)
def test_invalid_configuration_is_refused_naming_the_requirement(text, requirement, where):
    """A protocol rule broken (C-24 CIMD URL, C-37 scope token, C-30 issuer, C-35 server URL,
    C-27 client_id) carries its ID; the file's own rules (syntax, keys, values) carry none."""
    with pytest.raises(InvalidInput) as info:
        Config.from_toml(text, where="test.toml")
    assert info.value.requirement == requirement
    assert where in (info.value.where or "")
    assert (info.value.where or "").startswith("test.toml")
    assert info.value.hint == "fix test.toml"


def test_import_of_an_invalid_file_is_one_error_line(home, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[servers.'https://h/mcp']\nidp = 'nope'\n")
    result = cli("import", str(bad))
    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: invalid configuration at {bad}: servers.https://h/mcp.idp")
    assert line.endswith(f"Hint: fix {bad} and import it again (nothing was changed)")
    assert not config_path().exists()


def test_config_errors_name_the_file_that_is_wrong(home, tmp_path):
    """``config import bad.toml`` blames bad.toml, never the user's own file; a broken own file
    is named as the configuration file; a TOML syntax error carries no requirement ID."""
    assert cli("set-server", SERVER, "--scope", "a").exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[servers.'https://h/mcp'\nidp = 1\n")
    result = cli("import", str(bad))
    assert result.exit_code == 1
    assert f"at {bad}: expected TOML syntax" in result.stderr
    assert "configuration file" not in result.stderr
    assert str(config_path()) not in result.stderr
    assert not re.search(r"\[[A-Z]+-\d+\]", result.stderr), result.stderr
    assert load_config().server(SERVER).scopes == ("a",)  # nothing changed
    piped = cli("import", "-", input="clients = 3\n")
    assert "at stdin: expected [clients.<issuer>]" in piped.stderr
    assert "Hint: fix stdin and import it again" in piped.stderr
    config_path().write_text("[servers.'https://h/mcp']\nstrcit = true\n")
    own = cli("show")
    assert own.exit_code == 1
    assert f"Hint: fix the configuration file {config_path()}" in own.stderr
    assert f"at {config_path()}: servers.https://h/mcp" in own.stderr
    assert not re.search(r"\[[A-Z]+-\d+\]", own.stderr), own.stderr


def test_remove_a_client_and_a_server(home):
    cli("add-client", ISSUER, "--client-id", "abc")
    cli("set-server", SERVER, "--strict")
    assert cli("remove", ISSUER).exit_code == 0
    assert cli("remove", SERVER).exit_code == 0
    assert load_config() == Config()
    missing = cli("remove", ISSUER)
    assert missing.exit_code == 1
    assert "nothing configured" in missing.stderr


def test_set_server_changes_only_the_options_given(home):
    cli("set-server", SERVER, "--scope", "a", "--idp", "keycloak")
    cli("set-server", SERVER, "--no-strict")
    assert load_config().server(SERVER) == ServerEntry(scopes=("a",), idp="keycloak", strict=False)


# every key of a [servers."URL"] table (SERVER_KEYS) with a valid value, in groups the entry's
# own rules accept together (audience needs idp = auth0; token file and variable exclude each other)
SERVER_KEY_VALUES = [
    {"scopes": ["files:read", "files:write"], "idp": "auth0", "strict": True,
     "cimd_url": "https://app.example.com/client.json", "allow_loopback": False,
     "audience": "https://api.example.com", "scope_prefix": "api://notes/", "dpop": "auto",
     "workload_token_file": "/var/run/secrets/tokens/mcp-token", "workload_client_id": "agent-7"},
    {"workload_token_env": "MCP_TOKEN", "idp": "entra", "scope_prefix": "api://x/"},
]  # fmt: skip


def _set_server_args(values: dict) -> list[str]:
    args = []
    for key, value in values.items():
        option = "--" + key.replace("_", "-")
        if key == "scopes":
            args += [arg for scope in value for arg in ("--scope", scope)]
        elif isinstance(value, bool):
            args.append(option if value else option.replace("--", "--no-", 1))
        else:
            args += [option, value]
    return args


def test_set_server_sets_every_documented_key_and_it_round_trips(home):
    """Each key docs/cli.md documents for a server entry (incl. scope_prefix, audience) is settable
    from the CLI and reads back unchanged from the file (C-37, C-09, C-24, SEC-05)."""
    assert {key for values in SERVER_KEY_VALUES for key in values} == set(SERVER_KEYS)
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for key in SERVER_KEYS:
        assert re.search(rf"\b{key} = ", docs), f"docs/cli.md does not show {key}"
    for number, values in enumerate(SERVER_KEY_VALUES):
        url = f"https://mcp{number}.example.com/mcp"
        result = cli("set-server", url, *_set_server_args(values))
        assert result.exit_code == 0, result.output
        assert tomllib.loads(config_path().read_text())["servers"][url] == values
        assert load_config().server(url).to_table() == values


def test_set_server_refuses_an_audience_without_a_profile_that_sends_it(home):
    result = cli("set-server", SERVER, "--audience", "https://api.example.com")
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith("error: invalid configuration at --audience: expected idp = auth0")
    assert "fix the file" not in line


def test_dpop_and_workload_identity_settings(home):
    """RFC 9449 (dpop) and SEP-1933 (workload identity) per server, from the CLI to the options."""
    result = cli("set-server", SERVER, "--dpop", "required",
                 "--workload-token-file", "/var/run/secrets/tokens/mcp-token",
                 "--workload-client-id", "agent-7")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = tomllib.loads(config_path().read_text())
    assert data["servers"]["https://mcp.example.com/mcp"] == {
        "dpop": "required",
        "workload_token_file": "/var/run/secrets/tokens/mcp-token",
        "workload_client_id": "agent-7",
    }
    options = load_config().client_options(SERVER)
    assert options["dpop"] == "required"
    workload = options["workload"]
    assert (workload.token_file, workload.token_env, workload.client_id) == (
        "/var/run/secrets/tokens/mcp-token", None, "agent-7")  # fmt: skip
    assert FlowConfig(**{k: v for k, v in options.items() if k != "preregistered"}).machine
    plain = load_config().client_options("https://elsewhere.example/mcp")
    assert not {"dpop", "workload"} & set(plain)
    assert cli("set-server", SERVER, "--dpop", "sometimes").exit_code == 1


def test_library_options_from_the_same_file():
    config = Config(
        cimd_url="https://app.example.com/client.json",
        clients={ISSUER: ClientEntry("abc", "s3cret")},
        servers={
            "https://mcp.example.com/mcp": ServerEntry(scopes=("a",), idp="entra", strict=True)
        },
    )
    options = config.client_options(SERVER)
    assert options["scopes"] == ("a",)
    assert options["strict_resource"] is True
    assert options["send_resource"] is False  # the Entra profile (DESIGN.md: IdP quirks)
    assert options["cimd_url"] == "https://app.example.com/client.json"
    client = options["preregistered"][ISSUER]
    assert (client.client_id, client.source, client.token_endpoint_auth_method) == (
        "abc",
        "pre-registered",
        "client_secret_basic",
    )
    assert "s3cret" not in repr(config)
    other = config.client_options("https://elsewhere.example/mcp")
    assert "scopes" not in other
    assert "send_resource" not in other


ENTRA_ISSUER = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"


def test_idp_profile_client_options_from_the_file():
    """The per-server IdP profile applies zeroauth.idp.flow_options: Entra's C-18 assumption for
    the configured Entra issuers only, its scope prefix; Auth0's audience (default: the URL)."""
    text = f"""
[clients."{ENTRA_ISSUER}"]
client_id = "app-1"

[clients."{ISSUER}"]
client_id = "abc"

[servers."https://entra.example/mcp"]
idp = "entra"
scope_prefix = "api://mcp-notes/"

[servers."https://auth0.example/mcp"]
idp = "auth0"

[servers."https://auth0.example/other"]
idp = "auth0"
audience = "https://api.example.com"
"""
    config = Config.from_toml(text, where="test.toml")
    assert Config.from_toml(config.to_toml(secrets=True), where="again") == config
    entra = config.client_options("https://entra.example/mcp")
    assert entra["send_resource"] is False
    assert entra["assume_s256_issuers"] == frozenset({ENTRA_ISSUER})  # not the Keycloak one
    assert entra["scope_prefix"] == "api://mcp-notes/"
    assert "authorization_params" not in entra
    auth0 = config.client_options("https://AUTH0.example/mcp")
    assert auth0["authorization_params"] == {"audience": "https://auth0.example/mcp"}
    assert "assume_s256_issuers" not in auth0
    other = config.client_options("https://auth0.example/other")
    assert other["authorization_params"] == {"audience": "https://api.example.com"}
    for options in (entra, auth0, other):
        FlowConfig(**options)  # every option is a real FlowConfig field
    plain = config.client_options("https://elsewhere.example/mcp")
    assert not {"assume_s256_issuers", "authorization_params", "scope_prefix"} & set(plain)


def test_toml_strings_survive_any_characters():
    name = 'quote " backslash \\ tab \t del \x7f emoji 🙂 newline \n'
    config = Config(client_name=name)
    assert Config.from_toml(config.to_toml(secrets=True), where="x") == config


def test_redis_url_is_read_masked_on_show_and_selects_a_redis_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from zeroauth.client import Keyring, RedisTokenStore

    text = 'redis_url = "rediss://fleet:s3cret-pw@redis.example:6380/2"\n'
    config = Config.from_toml(text, where="config.toml")
    assert config.redis_url == "rediss://fleet:s3cret-pw@redis.example:6380/2"
    assert "s3cret-pw" not in config.to_toml(secrets=False)
    assert "fleet:***@redis.example:6380" in config.to_toml(secrets=False)
    assert Config.from_toml(config.to_toml(secrets=True), where="x").redis_url == config.redis_url
    monkeypatch.setenv("ZEROAUTH_REDIS_KEYS", Keyring.generate("k1"))
    store = config.redis_store(prefix="team-a")
    assert isinstance(store, RedisTokenStore)
    assert "s3cret-pw" not in repr(store)
    assert Config().redis_store() is None
    with pytest.raises(InvalidInput, match="redis_url"):
        Config.from_toml('redis_url = "http://x:pw@redis.example"\n', where="config.toml")
