"""Local HTTPS for development (``zeroauth.devserver.ensure_dev_certificates``; RFC 5280
§4.2.1.9 basic constraints, §4.2.1.10 name constraints): the CA can vouch only for loopback
names, its key and the leaf's are 0600, the leaf is short-lived and renewed, and real OpenSSL
handshakes refuse an expired leaf, a leaf for another name and a leaf the CA signed for a public
name. The demo runs end to end over https with every client trusting only the standard way."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from zeroauth.devserver import DevCertificates, ensure_dev_certificates
from zeroauth.devserver._certs import LEAF_DAYS

NOW = datetime.datetime.now(datetime.UTC)


def _handshake(certs: DevCertificates, hostname: str, server: ssl.SSLContext | None = None) -> None:
    """A TLS handshake through memory BIOs (real OpenSSL verification, no network)."""
    client_ctx = certs.client_context()
    server_ctx = server or certs.server_context()
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    peer = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client), ("server", peer)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


@pytest.fixture
def certs(tmp_path: Path) -> DevCertificates:
    return ensure_dev_certificates(tmp_path / "dev-ca")


def test_keys_are_private_and_the_directory_is_closed(certs: DevCertificates) -> None:
    assert certs.ca_key_file.stat().st_mode & 0o777 == 0o600
    assert certs.key_file.stat().st_mode & 0o777 == 0o600
    assert certs.directory.stat().st_mode & 0o777 == 0o700


def test_rfc5280_the_ca_is_constrained_to_loopback_names(certs: DevCertificates) -> None:
    ca = certs.ca()
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert set(constraints.value.permitted_subtrees or ()) == {
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    }
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert (basic.value.ca, basic.value.path_length) == (True, 0)


def test_the_leaf_names_localhost_and_both_loopback_addresses(certs: DevCertificates) -> None:
    leaf = certs.leaf()
    alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in alt.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=LEAF_DAYS, minutes=5)


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "::1"])
def test_a_client_trusting_the_ca_accepts_the_leaf(certs: DevCertificates, hostname: str) -> None:
    _handshake(certs, hostname)


def test_a_leaf_for_another_name_is_refused(certs: DevCertificates) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|doesn.t match"):
        _handshake(certs, "mcp.example.com")


def test_an_expired_leaf_is_refused(tmp_path: Path) -> None:
    past = NOW - datetime.timedelta(days=LEAF_DAYS + 2)
    old = ensure_dev_certificates(tmp_path / "dev-ca", now=past)  # CA still valid, leaf expired
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        _handshake(old, "localhost")


def test_the_ca_cannot_vouch_for_a_public_name(certs: DevCertificates, tmp_path: Path) -> None:
    # the attack: the CA key leaks (or the CA is trusted system-wide) and signs evil.example
    ca_key = serialization.load_pem_private_key(certs.ca_key_file.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    rogue = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil.example")]))
        .issuer_name(certs.ca().subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil.example")]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "rogue.pem", tmp_path / "rogue-key.pem"
    cert_file.write_bytes(rogue.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree violation"):
        _handshake(certs, "evil.example", server)


def test_the_leaf_is_renewed_after_two_thirds_of_its_lifetime(tmp_path: Path) -> None:
    directory = tmp_path / "dev-ca"
    first = ensure_dev_certificates(directory, now=NOW).leaf().serial_number
    early = NOW + datetime.timedelta(days=LEAF_DAYS * 2 / 3 - 1)
    assert ensure_dev_certificates(directory, now=early).leaf().serial_number == first
    late = NOW + datetime.timedelta(days=LEAF_DAYS * 2 / 3 + 1)
    renewed = ensure_dev_certificates(directory, now=late)
    assert renewed.leaf().serial_number != first
    assert renewed.ca().serial_number == DevCertificates(directory).ca().serial_number


def test_remove_deletes_every_file(certs: DevCertificates) -> None:
    certs.remove()
    assert not any(certs.directory.iterdir())


@pytest.mark.anyio
async def test_the_demo_runs_over_https(certs: DevCertificates) -> None:
    pytest.importorskip("mcp")
    from zeroauth.demo.run import run_demo
    from zeroauth.demo.trace import Step

    steps: list[Step] = []
    result = await run_demo(steps.append, tls=certs)
    assert result.ok, result.error
    assert result.reconnect_requests == 1
    assert all(step.request.split()[1].startswith("https://") for step in steps)


def test_cli_dev_cert_creates_renews_and_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from zeroauth.cli.app import app

    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    created = CliRunner().invoke(app, ["dev-cert", "--json"])
    assert created.exit_code == 0, created.output
    paths = json.loads(created.output)
    assert Path(paths["ca_file"]).is_relative_to(tmp_path)
    serial = DevCertificates(Path(paths["ca_file"]).parent).leaf().serial_number
    shown = CliRunner().invoke(app, ["dev-cert", "--renew"])
    assert shown.exit_code == 0, shown.output
    assert "update-ca-certificates" in shown.output  # how to trust it, per system
    assert "certutil -user -delstore Root" in shown.output  # ...and how to remove it
    assert DevCertificates(Path(paths["ca_file"]).parent).leaf().serial_number != serial
    removed = CliRunner().invoke(app, ["dev-cert", "--remove"])
    assert removed.exit_code == 0
    assert not Path(paths["ca_file"]).exists()


@pytest.mark.anyio
async def test_docs_devserver_https_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.docs import code_blocks, run_example

    monkeypatch.chdir(tmp_path)
    [code] = code_blocks("docs/devserver.md", after="## Local HTTPS")[:1]
    namespace = run_example(code, "docs/devserver.md")
    await namespace["http"].aclose()
    assert namespace["auth"].engine.transport.verify is namespace["context"]
    _handshake(namespace["certs"], "localhost")
