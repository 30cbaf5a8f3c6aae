"""The outbound wire for OAuth and metadata requests (private; SECURITY W1, W3, A8).

The only place OAuth and metadata connections are opened, for every role (the guard is
tests/unit/test_one_wire.py): ``transport.OAuthTransport`` (URL policy at every hop, 1 MiB body
cap, total deadline, bounded redirects, observer; sync and async), built on DNS pinning (a name
resolved once, every address checked by the policy, the socket connected to a checked address,
SEC-04) and bounded reads. ``policy`` holds the per-role rules: the client's ``URLPolicy`` and
``ENDPOINT`` for operator-configured endpoints of a resource server or gateway (W2).
"""

from zeroauth._wire.bounded import BodyTooLargeError, BoundedResponse, get_bounded, read_capped
from zeroauth._wire.pinning import (
    AddressCheck,
    AsyncResolver,
    PinnedAsyncTransport,
    PinnedTransport,
    PinningAsyncBackend,
    PinningBackend,
    Resolver,
    policy_check,
    system_resolver,
    system_resolver_sync,
)

__all__ = [
    "AddressCheck",
    "AsyncResolver",
    "BodyTooLargeError",
    "BoundedResponse",
    "PinnedAsyncTransport",
    "PinnedTransport",
    "PinningAsyncBackend",
    "PinningBackend",
    "Resolver",
    "get_bounded",
    "policy_check",
    "read_capped",
    "system_resolver",
    "system_resolver_sync",
]
