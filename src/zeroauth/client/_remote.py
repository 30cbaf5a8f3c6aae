"""User steps for machines whose browser is elsewhere: SSH sessions, containers, CI, notebooks.

- ``DeviceUserStep``: the device authorization grant (RFC 8628). The flow asks the AS's
  ``device_authorization_endpoint`` for a user code and polls its token endpoint; this step
  shows the user where to go and which code to enter (§3.3), the ``verification_uri_complete``
  too and, with ``qr=True`` and the optional ``segno`` package (``zeroauth[qr]``), as a QR code
  for a phone (§3.3.1). With ``fallback=`` (e.g. ``PasteUserStep()``) an AS without a device
  endpoint is served by that step instead of failing.
- ``PasteUserStep``: for an AS without one: the authorization URL is printed, the user opens it
  on any machine and pastes back the URL the browser ended on (or only the code). The flow
  checks it exactly as a loopback redirect (``zeroauth.core.paste``: ``state``, RFC 9207
  ``iss``, PKCE). Nothing listens on the redirect URI.
- ``no_display_reason()``: why this machine probably has no browser to open (no ``DISPLAY`` /
  ``WAYLAND_DISPLAY`` on Linux, an SSH session, a container), or ``None`` (also when ``BROWSER``
  names a browser command, as remote development containers set it).

Everything shown comes from the AS and was checked by the flow first: codes are bounded
printable ASCII and the URLs passed the URL policy (SEC-06), so nothing printed can carry
terminal control sequences.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import anyio.to_thread

from zeroauth.client._browser import UserStep, UserStepBase, concrete_redirect_uri
from zeroauth.core.device import DeviceAuthorization
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.paste import PastedResponse
from zeroauth.core.urls import PRODUCTION, URLPolicy

__all__ = ["DeviceUserStep", "PasteUserStep", "no_display_reason"]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _read_line(prompt: str) -> str:
    _stderr(prompt)
    return sys.stdin.readline()


class DeviceUserStep(UserStepBase):
    """Log in with the device authorization grant (RFC 8628): the user enters a short code on
    another device. ``ZeroAuth(user_step=DeviceUserStep())``.

    ``show``: where the instructions go (default: stderr). ``qr=True``: also a terminal QR code
    of the verification URL (needs ``segno``: ``pip install zeroauth[qr]``; skipped without it).
    ``fallback``: the user step for an authorization server without a device endpoint (e.g.
    ``PasteUserStep()``); without one, such a server is an error.
    """

    def __init__(
        self,
        *,
        fallback: UserStep | None = None,
        show: Callable[[str], object] | None = None,
        qr: bool = False,
    ) -> None:
        self.fallback = fallback
        self.show = show if show is not None else _stderr
        self.qr = qr
        self.shown: list[DeviceAuthorization] = []  # what was shown (tests, callers' UIs)

    @property
    def device_grant(self) -> Literal["prefer", "only"]:
        """How the flow uses the device grant with this step (``FlowConfig.device_grant``)."""
        return "prefer" if self.fallback is not None else "only"

    def show_device_code(self, authorization: DeviceAuthorization) -> None:
        """RFC 8628 §3.3: tell the user where to go and which code to enter."""
        self.shown.append(authorization)
        lines = [
            "To log in, open this page on any device:",
            f"  {authorization.verification_uri}",
            f"and enter the code:  {authorization.user_code}",
        ]
        if authorization.verification_uri_complete:
            lines += ["Or open this link (the code is filled in):",
                      f"  {authorization.verification_uri_complete}"]  # fmt: skip
        self.show("\n".join(lines))
        if self.qr:
            target = authorization.verification_uri_complete or authorization.verification_uri
            code = terminal_qr(target)
            if code:
                self.show(code)
        self.show("Waiting for the approval…")

    def redirect_uri(self, preferred: str) -> str:
        return self._fallback().redirect_uri(preferred)

    async def authorize(self, url: str, redirect_uri: str) -> str:
        return await self._fallback().authorize(url, redirect_uri)

    def authorize_sync(self, url: str, redirect_uri: str) -> str:
        return self._fallback().authorize_sync(url, redirect_uri)

    def _fallback(self) -> UserStep:
        if self.fallback is None:  # the flow only asks when the AS has no device endpoint
            raise ZeroAuthError(
                "the authorization server does not offer the device authorization grant",
                expected="device_authorization_endpoint in its metadata (RFC 8628 §4)",
                hint="use DeviceUserStep(fallback=PasteUserStep()) or another user step",
            )
        return self.fallback


def terminal_qr(text: str) -> str | None:
    """A QR code of ``text`` drawn with block characters, or ``None`` without ``segno``."""
    try:
        import segno  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    out = io.StringIO()
    segno.make(text, error="l").terminal(out=out, compact=True)
    return out.getvalue().rstrip("\n")


class PasteUserStep(UserStepBase):
    """Paste-back: print the authorization URL, read back the URL the browser ended on (or the
    code). ``ZeroAuth(user_step=PasteUserStep())``.

    ``show`` prints the instructions (default: stderr); ``read`` prompts and returns one line
    (default: stdin). The pasted text is checked by the flow like a loopback redirect: a URL
    from another attempt (``state``), a wrong ``iss``, an error response or garbage each raise
    a typed error and nothing is redeemed.
    """

    def __init__(
        self,
        *,
        show: Callable[[str], object] | None = None,
        read: Callable[[str], str] | None = None,
        url_policy: URLPolicy = PRODUCTION,
    ) -> None:
        self.show = show if show is not None else _stderr
        self.read = read if read is not None else _read_line
        self.url_policy = url_policy
        self._port: int | None = None

    def redirect_uri(self, preferred: str) -> str:
        """Nothing listens there, but the URI names a concrete port (kept for this instance)."""
        uri, self._port = concrete_redirect_uri(preferred, self._port)
        return uri

    def authorize_sync(self, url: str, redirect_uri: str) -> str:
        self.url_policy.check_url(url, field="authorization_endpoint", requirement="SEC-06")
        self.show(
            "To log in, open this URL in a browser on any machine:\n"
            f"  {url}\n"
            "After approving, the browser goes to a page on "
            f"{redirect_uri.split('?', 1)[0]} that will not load there:\n"
            "copy the whole address from the address bar (or just the code) and paste it here."
        )
        line = self.read("Pasted URL or code: ")
        return PastedResponse(line.strip())

    async def authorize(self, url: str, redirect_uri: str) -> str:
        return await anyio.to_thread.run_sync(self.authorize_sync, url, redirect_uri)


def no_display_reason(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    root: Path = Path("/"),
) -> str | None:
    """Why a browser probably cannot be opened here, or ``None`` if one probably can."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if env.get("BROWSER"):  # a browser command is configured (webbrowser uses it: devcontainers)
        return None
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return "an SSH session"
    if plat.startswith("linux"):
        if env.get("container") or any(
            (root / marker).exists() for marker in (".dockerenv", "run/.containerenv")
        ):
            return "a container"
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            return "no DISPLAY or WAYLAND_DISPLAY"
    return None
