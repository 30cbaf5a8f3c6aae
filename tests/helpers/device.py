"""A user at the dev AS's verification page (RFC 8628 §3.3), played over real HTTP.

``approve_device`` types the user code into the page (its CSRF cookie and field included) and
decides on the consent page that follows (or takes the auto-approval of an auto-approving AS);
``approve_when_shown`` does it from a second thread as soon as a ``DeviceUserStep`` has shown a
code, as a user on another device would.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import httpx2

from zeroauth.client import DeviceUserStep
from zeroauth.core.device import DeviceAuthorization

_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    import html

    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def enter_code(http: httpx2.Client, verification_uri: str, user_code: str) -> httpx2.Response:
    """GET the verification page, POST the code with the page's CSRF token."""
    page = http.get(verification_uri)
    assert page.status_code == 200, page.text
    form = {**hidden_fields(page.text), "user_code": user_code}
    return http.post(verification_uri, data=form)


def approve_device(
    verification_uri: str, user_code: str, *, decision: str = "approve"
) -> httpx2.Response:
    """The whole user side: code entered, then the consent page's decision (if one is shown)."""
    with httpx2.Client(timeout=10) as http:
        answer = enter_code(http, verification_uri, user_code)
        if answer.status_code != 200 or "<form" not in answer.text:
            return answer  # auto-approved, or refused
        fields = hidden_fields(answer.text)
        action = re.search(r'<form method="post" action="([^"]+)"', answer.text)
        assert action is not None
        return http.post(action.group(1), data={**fields, "decision": decision})


@dataclass
class Approver:
    """Approves (or denies) from a second thread once ``step`` has shown a code."""

    step: DeviceUserStep
    decision: str = "approve"
    delay: float = 0.0
    responses: list[httpx2.Response] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Approver:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + 20
        seen = len(self.step.shown)
        while len(self.step.shown) <= seen and time.monotonic() < deadline:
            time.sleep(0.01)
        if len(self.step.shown) <= seen:
            return
        shown: DeviceAuthorization = self.step.shown[-1]
        time.sleep(self.delay)
        self.responses.append(
            approve_device(shown.verification_uri, shown.user_code, decision=self.decision)
        )

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(10)


def approve_when_shown(step: DeviceUserStep, **options: object) -> Approver:
    return Approver(step, **options).start()  # type: ignore[arg-type]


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_ANY_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)
_BUTTON = re.compile(r'<button[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)


def submit_every_form(url: str, *, max_pages: int = 8) -> httpx2.Response:
    """A browser with scripts that only ever presses the first button: GET ``url``, then post
    each page's form (hidden fields and its first named button) until a page has none. Drives
    oidc-provider's device pages (auto-submitted code form, confirmation) to its success page."""
    import html

    with httpx2.Client(follow_redirects=True, timeout=10) as http:
        page = http.get(url)
        for _ in range(max_pages):
            form = _FORM.search(page.text)
            if form is None:
                return page
            data = {n: html.unescape(v) for n, v in _ANY_HIDDEN.findall(form.group(2))}
            button = _BUTTON.search(form.group(2))
            if button is not None:
                data[button.group(1)] = button.group(2)
            page = http.post(html.unescape(form.group(1)), data=data)
    raise AssertionError(f"still a form after {max_pages} pages")
