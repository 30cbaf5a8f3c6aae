"""``zeroauth dev-cert``: local HTTPS for development (a loopback-only CA and its leaf), and how to
trust or untrust the CA on Linux, macOS and Windows."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from zeroauth.cli.paths import data_dir
from zeroauth.devserver import DevCertificates, ensure_dev_certificates

__all__ = ["dev_cert", "dev_certificates", "run_dev_server"]


def dev_certificates(*, renew: bool = False) -> DevCertificates:
    """The CLI's development certificates (``$ZEROAUTH_HOME/data/dev-ca`` or the data dir)."""
    return ensure_dev_certificates(data_dir() / "dev-ca", renew=renew)


def run_dev_server(app: Any, host: str, port: int, tls: DevCertificates | None) -> None:
    """Serve ``app`` with uvicorn, over https with the development certificate when given."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )


def _trust_help(certs: DevCertificates) -> list[tuple[str, str, str]]:
    """(system, trust command, untrust command) for the CA."""
    ca, serial = certs.ca_file, f"{certs.ca().serial_number:x}"
    name = "zeroauth-dev-ca.crt"
    return [
        (
            "Debian/Ubuntu",
            f"sudo cp {ca} /usr/local/share/ca-certificates/{name} && sudo update-ca-certificates",
            f"sudo rm /usr/local/share/ca-certificates/{name} && "
            "sudo update-ca-certificates --fresh",
        ),
        (
            "Fedora/RHEL",
            f"sudo cp {ca} /etc/pki/ca-trust/source/anchors/{name} && sudo update-ca-trust",
            f"sudo rm /etc/pki/ca-trust/source/anchors/{name} && sudo update-ca-trust",
        ),
        (
            "macOS",
            "sudo security add-trusted-cert -d -r trustRoot "
            f"-k /Library/Keychains/System.keychain {ca}",
            f"sudo security remove-trusted-cert -d {ca}",
        ),
        (
            "Windows",
            f"certutil -user -addstore Root {ca}",
            f"certutil -user -delstore Root {serial}",
        ),
        # replaces the system roots for Python's ssl/httpx: a development shell only
        ("Python only (this CA alone)", f"export SSL_CERT_FILE={ca}", "unset SSL_CERT_FILE"),
    ]


def dev_cert(
    renew: Annotated[bool, typer.Option(help="Issue a new leaf certificate now.")] = False,
    remove: Annotated[
        bool, typer.Option(help="Delete the CA and the leaf (untrust the CA first).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the paths as JSON.")] = False,
) -> None:
    """Create (or show) the development CA and a certificate for localhost.

    The certificate names localhost, 127.0.0.1 and ::1 and serves `zeroauth demo --https`,
    `dev-as --https` and `serve --https`. The CA can only vouch for those three names; the
    certificate lives 30 days and is renewed automatically."""
    console = Console(highlight=False, soft_wrap=True)
    if remove:
        DevCertificates(data_dir() / "dev-ca").remove()
        console.print(
            "Removed the development CA and certificate (untrust the CA if you trusted it)."
        )
        return
    certs = dev_certificates(renew=renew)
    leaf = certs.leaf()
    if as_json:
        print(json.dumps({
            "ca_file": str(certs.ca_file), "cert_file": str(certs.cert_file),
            "key_file": str(certs.key_file), "expires": leaf.not_valid_after_utc.isoformat(),
        }))  # fmt: skip
        return
    console.print(f"[bold]CA[/]          {escape(str(certs.ca_file))}")
    console.print(
        f"[bold]certificate[/] {escape(str(certs.cert_file))}  (localhost, 127.0.0.1, ::1)"
    )
    console.print(f"[bold]key[/]         {escape(str(certs.key_file))}  (0600)")
    console.print(
        f"expires {leaf.not_valid_after_utc:%Y-%m-%d}; `zeroauth dev-cert --renew` renews"
    )
    console.print("\n[bold]Trust the CA[/] (only if a browser or non-Python client needs it):")
    for system, trust, untrust in _trust_help(certs):
        console.print(f"  [cyan]{system}[/]: {escape(trust)}")
        console.print(f"      remove: {escape(untrust)}")
