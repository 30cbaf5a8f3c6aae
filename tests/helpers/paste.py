"""The user of a ``PasteUserStep``, played over real HTTP: reads the authorization URL the step
printed, "opens" it (an auto-approving AS redirects at once) and pastes back the address the
browser would end on — optionally tampered with (``transform``) for the bad-input tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2

from zeroauth.client import PasteUserStep
from zeroauth.core.urls import DEVELOPMENT


def authorization_url(shown: str) -> str:
    """The URL line of what ``PasteUserStep`` printed."""
    return next(line.strip() for line in shown.splitlines() if "/authorize?" in line)


def landing(url: str) -> str:
    """Where the browser ends up: the AS's redirect to the (unreachable) redirect URI."""
    answer = httpx2.get(url, follow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


@dataclass
class PasteUser:
    transform: Callable[[str], str] = landing  # authorization URL -> pasted text
    shown: list[str] = field(default_factory=list)
    pasted: list[str] = field(default_factory=list)

    def show(self, text: str) -> None:
        self.shown.append(text)

    def read(self, prompt: str) -> str:
        text = self.transform(authorization_url(self.shown[-1]))
        self.pasted.append(text)
        return text + "\n"

    def step(self) -> PasteUserStep:
        return PasteUserStep(show=self.show, read=self.read, url_policy=DEVELOPMENT)
