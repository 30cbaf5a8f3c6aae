"""The outbound wire for OAuth and metadata requests (private; SECURITY W1, W3, A8).

Pieces the one outbound HTTP path is built from: DNS pinning (a name resolved once, every
address checked by the URL policy, the socket connected to a checked address, SEC-04) and
bounded reads (a capped body within one total deadline). Used by the dev authorization server's
Client ID Metadata Document fetch; other outbound requests move here in turn.
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
