"""A settable clock: the injectable ``() -> float`` the verifiers and caches accept."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    """Returns ``now`` (the real time when created); tests move it by assigning ``now``."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now
