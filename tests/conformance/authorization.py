"""Run the official suite's authorization-server scenarios headlessly against an issuer.

    python tests/conformance/authorization.py --url ISSUER [--client-id ID [--client-secret S]]
        [--auth-method none|client_secret_post|client_secret_basic] [--resource URI]
        [--port N] [--login-hint H] [--json]

``conformance authorization`` checks (1) the AS metadata (RFC 8414 / OpenID locations, 200 JSON,
``issuer`` equal to ``--url`` verbatim, ``code`` and ``S256`` offered; a warning without
``client_id_metadata_document_supported: true``) and (2) an authorization-code grant with PKCE:
it prints an authorization URL and waits for a browser to come back to
``http://127.0.0.1:<port>/callback``. This script plays the browser: it GETs that URL and follows
the AS's redirects (keeping cookies, loopback hosts only) until the callback, then reports each
check. Without ``--client-id`` it first registers a client by RFC 7591 with that redirect URI
and ``--auth-method``. The suite chooses the token-endpoint authentication itself: ``none`` when
no secret is given or the AS lists ``none``, else ``client_secret_post``, else
``client_secret_basic``; a confidential client at an AS that also lists ``none`` therefore
authenticates as public (this script warns about it).

Ends with ``authorization: N passed, M failed`` (checks); exit status 0 iff no check failed.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

try:  # run as a script (python tests/conformance/authorization.py) or imported by the tests
    from tests.conformance.run import NODE_BIN, SUITE_JS, check_setup, node_env
except ImportError:  # pragma: no cover - script mode
    from run import NODE_BIN, SUITE_JS, check_setup, node_env  # type: ignore[no-redef,import-not-found]

AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
MAX_HOPS = 10


class DriveError(Exception):
    """The headless browser could not reach the callback."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


def metadata_urls(issuer: str) -> list[str]:
    """The locations the suite tries, in its order."""
    parts = urlsplit(issuer)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    urls = [
        f"{base}/.well-known/oauth-authorization-server{path}",
        f"{base}/.well-known/openid-configuration{path}",
        f"{base}{path}/.well-known/openid-configuration",
    ]
    return list(dict.fromkeys(urls))


def fetch_metadata(http: httpx2.Client, issuer: str) -> dict[str, Any]:
    for url in metadata_urls(issuer):
        response = http.get(url)
        if response.status_code == 200:
            data: dict[str, Any] = response.json()
            return data
    raise DriveError(f"no authorization server metadata for {issuer}")


def suite_auth_method(metadata: dict[str, Any], secret: str | None) -> str | None:
    """The suite's own choice (``selectTokenAuthMethod``)."""
    offered = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if not secret or "none" in offered:
        return "none"
    for method in ("client_secret_post", "client_secret_basic"):
        if method in offered:
            return method
    return None


def register(
    http: httpx2.Client, metadata: dict[str, Any], redirect_uri: str, method: str
) -> tuple[str, str | None]:
    endpoint = metadata.get("registration_endpoint")
    if not endpoint:
        raise DriveError("the AS has no registration_endpoint: pass --client-id")
    body = {
        "client_name": "zeroauth conformance (authorization)",
        "redirect_uris": [redirect_uri],
        "application_type": "native",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    }
    response = http.post(endpoint, json=body)
    if response.status_code not in (200, 201):
        raise DriveError(f"registration failed: HTTP {response.status_code} {response.text[:300]}")
    data = response.json()
    return data["client_id"], data.get("client_secret")


def deliver(browser: httpx2.Client, url: str, attempts: int = 20) -> None:
    """GET the suite's callback; it starts listening just after printing the URL."""
    for attempt in range(attempts):
        try:
            browser.get(url)
            return
        except httpx2.ConnectError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def drive(url: str, callback: str, *, timeout: float = 30.0) -> str:
    """Be the browser: follow the AS's redirects (cookies kept) until ``callback``; GET it."""
    with httpx2.Client(follow_redirects=False, timeout=timeout) as browser:
        current = url
        for _ in range(MAX_HOPS):
            if not is_loopback(current):
                raise DriveError(f"refusing a non-loopback hop: {urlsplit(current).netloc}")
            if current.split("?", 1)[0] == callback:
                deliver(browser, current)
                return current
            response = browser.get(current)
            if response.status_code not in (301, 302, 303, 307, 308):
                raise DriveError(
                    f"the AS answered HTTP {response.status_code} at {current.split('?', 1)[0]}"
                    " instead of redirecting (does it auto-approve?)"
                )
            current = urljoin(current, response.headers.get("location", ""))
    raise DriveError(f"no callback after {MAX_HOPS} redirects")


def read_checks(out: Path) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for path in sorted(out.glob("authorization-server-*/checks.json")):
        name = path.parent.name.removeprefix("authorization-server-")
        scenario = re.sub(r"-\d{4}-\d\d-\d\dT[\d-]+Z$", "", name)
        for check in json.loads(path.read_text()):
            checks.append({"scenario": scenario, **check})
    return checks


def run_suite(args: argparse.Namespace, client_id: str, out: Path) -> tuple[int, str | None]:
    """Run ``conformance authorization``, drive its URL; (exit status, drive error)."""
    command = [str(NODE_BIN / "node"), str(SUITE_JS), "authorization", "--url", args.url]
    command += ["--client-id", client_id, "-p", str(args.port), "-o", str(out)]
    if args.client_secret:
        command += ["--client-secret", args.client_secret]
    if args.resource:
        command += ["--resource", args.resource]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=node_env(),
        cwd=Path(__file__).parent,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: Any) -> None:
        for text in stream:
            lines.put(text)
        lines.put(None)

    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    callback = f"http://127.0.0.1:{args.port}/callback"
    error: str | None = None
    deadline = time.monotonic() + args.timeout
    waiting_for_url = False
    try:
        while (line := lines.get(timeout=max(0.1, deadline - time.monotonic()))) is not None:
            if args.verbose:
                print(line, end="", file=sys.stderr)
            if line.startswith("Access the following URL"):
                waiting_for_url = True
            elif waiting_for_url and line.startswith("http"):
                waiting_for_url = False
                url = line.strip()
                if args.login_hint:
                    url += ("&" if "?" in url else "?") + f"login_hint={args.login_hint}"
                try:
                    drive(url, callback)
                except (DriveError, httpx2.HTTPError) as exc:
                    error = str(exc)
                    proc.terminate()
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), error
    except (queue.Empty, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        return -1, error or f"the suite did not finish within {args.timeout:.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the issuer, exactly as in its metadata")
    parser.add_argument("--client-id", help="a client registered with the callback redirect URI")
    parser.add_argument("--client-secret")
    parser.add_argument("--auth-method", choices=AUTH_METHODS, default="none")
    parser.add_argument("--resource", help="RFC 8707 resource (the MCP server URL)")
    parser.add_argument("--port", type=int, default=0, help="callback port (default: a free one)")
    parser.add_argument("--login-hint", help="appended to the authorization URL")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="echo the suite's output")
    args = parser.parse_args(argv)
    args.port = args.port or free_port()
    callback = f"http://127.0.0.1:{args.port}/callback"
    if not is_loopback(args.url):
        print("authorization: only loopback issuers are driven here", file=sys.stderr)
        return 2
    try:
        check_setup()
        with httpx2.Client(timeout=30.0) as http:
            metadata = fetch_metadata(http, args.url)
            client_id, secret = args.client_id, args.client_secret
            if client_id is None:
                client_id, secret = register(http, metadata, callback, args.auth_method)
                args.client_secret = secret
    except Exception as exc:
        print(f"authorization: cannot run: {exc}", file=sys.stderr)
        print("authorization: 0 passed, 0 failed")
        return 2
    notes = []
    chosen = suite_auth_method(metadata, args.client_secret)
    if chosen != args.auth_method:
        notes.append(
            f"the suite authenticates as {chosen!r}, the client is registered for "
            f"{args.auth_method!r} (it picks 'none' whenever the AS lists it)"
        )
    with tempfile.TemporaryDirectory(prefix="conformance-authz-") as tmp:
        code, error = run_suite(args, client_id, Path(tmp))
        checks = read_checks(Path(tmp))
    failed = sum(c["status"] == "FAILURE" for c in checks)
    passed = sum(c["status"] == "SUCCESS" for c in checks)
    if error:
        notes.append(f"headless browser: {error}")
    if args.json:
        print(json.dumps({"exit": code, "checks": checks, "notes": notes}, indent=2))
    else:
        for c in checks:
            reason = c.get("errorMessage") or ""
            print(f"{c['scenario']:<40}{c['id']:<40}{c['status']:<9}{reason}")
        for note in notes:
            print(f"note: {note}")
    print(f"authorization: {passed} passed, {failed} failed")
    return 0 if code == 0 and failed == 0 and checks and not error else 1


if __name__ == "__main__":
    sys.exit(main())
