"""Local HTTPS for development: a private CA that can only ever vouch for loopback names, and a
short-lived leaf for ``localhost``, ``127.0.0.1`` and ``::1``.

The MCP authorization spec requires https for every endpoint except loopback, browsers refuse
secure cookies over http, and the usual way out (``verify=False``) tends to reach production.
Instead, ``ensure_dev_certificates(directory)`` keeps, in a 0700 directory:

- ``ca.pem`` / ``ca-key.pem`` (key 0600): an EC P-256 CA whose RFC 5280 §4.2.1.10 *name
  constraints* (critical) permit only ``localhost``, ``127.0.0.1/32`` and ``::1/128``, with
  ``pathLenConstraint = 0`` (§4.2.1.9). Even if its key leaked, a verifier that enforces name
  constraints (OpenSSL, browsers) refuses what it signs for any public name.
- ``localhost.pem`` / ``localhost-key.pem`` (key 0600): a server leaf for those three names
  (``subjectAltName``, ``extendedKeyUsage = serverAuth``), valid ``LEAF_DAYS`` days; renewed
  automatically once two thirds of its lifetime have passed or when the CA changed.

Clients trust the CA through the standard knobs only: ``client_context()`` (system roots plus
this CA) as ``verify=`` (``ZeroAuth``, ``httpx2``), or ``SSL_CERT_FILE``. Nothing here turns
verification off.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_DAYS", "LEAF_DAYS", "DevCertificates", "ensure_dev_certificates"]

CA_DAYS = 365
LEAF_DAYS = 30
NAMES = ("localhost", "127.0.0.1", "::1")
_PERMITTED: list[x509.GeneralName] = [
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
    x509.IPAddress(ipaddress.ip_network("::1/128")),
]


@dataclass(frozen=True, slots=True)
class DevCertificates:
    """Paths of the development CA and leaf (see the module docstring)."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def cert_file(self) -> Path:
        return self.directory / "localhost.pem"

    @property
    def key_file(self) -> Path:
        return self.directory / "localhost-key.pem"

    def ca(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_file.read_bytes())

    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_file.read_bytes())

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context: the system's roots plus this CA (pass as ``verify=``)."""
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(self.ca_file))
        return context

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting the leaf (for servers other than uvicorn)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def remove(self) -> None:
        """Delete the CA and the leaf (untrust the CA in the OS store first: see the CLI)."""
        for path in (self.key_file, self.cert_file, self.ca_key_file, self.ca_file):
            path.unlink(missing_ok=True)


def ensure_dev_certificates(
    directory: Path, *, now: datetime.datetime | None = None, renew: bool = False
) -> DevCertificates:
    """The CA (created once; again only when missing or expired) and a leaf valid for at least a
    third of its lifetime (``renew=True`` issues a new one regardless)."""
    now = now or datetime.datetime.now(datetime.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    certs = DevCertificates(directory)
    if not (certs.ca_file.exists() and certs.ca_key_file.exists()) or _expired(certs.ca(), now):
        _write_ca(certs, now)
        renew = True
    if renew or not certs.cert_file.exists() or _leaf_stale(certs, now):
        _write_leaf(certs, now)
    return certs


def _expired(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_after_utc <= now


def _leaf_stale(certs: DevCertificates, now: datetime.datetime) -> bool:
    leaf = certs.leaf()
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    renew_at = leaf.not_valid_before_utc + lifetime * 2 / 3
    return now >= renew_at or leaf.issuer != certs.ca().subject


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _write_ca(certs: DevCertificates, now: datetime.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "zeroauth development"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"zeroauth dev CA {now:%Y-%m-%d %H:%M:%S}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.NameConstraints(_PERMITTED, None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(certs.ca_key_file, key)
    certs.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_leaf(certs: DevCertificates, now: datetime.datetime) -> None:
    ca_key = serialization.load_pem_private_key(certs.ca_key_file.read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{certs.ca_key_file} is not the EC key of a zeroauth dev CA")
    ca = certs.ca()
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [x509.DNSName("localhost")] + [
        x509.IPAddress(ipaddress.ip_address(ip)) for ip in NAMES[1:]
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(certs.key_file, key)
    certs.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
