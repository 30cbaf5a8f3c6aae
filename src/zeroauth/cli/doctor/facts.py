"""What the doctor learned over the wire, parsed the way a spec-compliant client parses it.

The checks (``checks_*``) are functions of these facts only, so they are tested without I/O.

- ``Probe``: the response to an MCP request (without, or with, a token) and its challenges:
  a strict RFC 9110 §11.6.1 parse (the server's syntax is judged, S-18) and the lenient
  Bearer reading clients use (C-02).
- ``PRMFetch``: one Protected Resource Metadata candidate (C-03 order), read like the client
  flow reads it: non-200, non-JSON or a malformed document moves a client on to the next
  candidate (C-05); the first usable document is the one it uses.
- ``ASFetch``: every authorization-server metadata candidate (C-14/C-15 order); the first 200
  JSON object is the document a client uses, and a wrong ``issuer`` in it stops the client
  (C-17: it is never skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zeroauth.cli.doctor.fetch import Fetched
from zeroauth.core.challenge import (
    BearerChallenge,
    Challenge,
    parse_www_authenticate,
    read_bearer_challenge,
)
from zeroauth.core.errors import InvalidInput, ZeroAuthError
from zeroauth.core.resource_metadata import PRMCandidate, ResourceMetadata
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import load_json_object

__all__ = ["ASFetch", "PRMFetch", "Probe"]


@dataclass(frozen=True, slots=True)
class Probe:
    response: Fetched
    challenges: tuple[Challenge, ...] = ()
    parse_error: str | None = None
    bearer: BearerChallenge | None = None

    @property
    def www_authenticate(self) -> tuple[str, ...]:
        return self.response.header_list("www-authenticate")

    @classmethod
    def of(cls, response: Fetched) -> Probe:
        values = response.header_list("www-authenticate")
        if not values:
            return cls(response)
        try:
            challenges, error = parse_www_authenticate(values), None
        except InvalidInput as exc:
            challenges, error = (), str(exc)
        return cls(response, challenges, error, read_bearer_challenge(values))


@dataclass(frozen=True, slots=True)
class PRMFetch:
    candidate: PRMCandidate
    response: Fetched
    document: ResourceMetadata | None = None
    problem: ZeroAuthError | None = None  # a 200 whose body is not a usable document

    @property
    def served(self) -> bool:
        return self.document is not None

    def describe(self) -> str:
        if self.problem is not None and self.response.status == 200:
            return f"HTTP 200 but {self.problem.message}"
        return self.response.describe()

    @classmethod
    def of(cls, candidate: PRMCandidate, response: Fetched) -> PRMFetch:
        if response.status != 200:
            return cls(candidate, response)
        try:
            data = load_json_object(response.body, where=candidate.url, what="PRM")
            document = ResourceMetadata.from_json(data, where=candidate.url)
        except ZeroAuthError as exc:
            return cls(candidate, response, problem=exc)
        return cls(candidate, response, document)


def first_served(fetches: Sequence[PRMFetch]) -> PRMFetch | None:
    """The document a client following C-03 uses: the first usable one."""
    return next((f for f in fetches if f.served), None)


@dataclass(frozen=True, slots=True)
class ASFetch:
    issuer: str
    urls: tuple[str, ...] = ()
    responses: tuple[Fetched, ...] = ()  # one per URL in ``urls`` (empty when refused)
    refused: ZeroAuthError | None = None  # the issuer URL is refused by policy: no request
    metadata: ServerMetadata | None = None
    index: int | None = None  # which URL served the document a client uses
    problem: ZeroAuthError | None = None  # that document is unusable (C-17, malformed)

    @property
    def response(self) -> Fetched | None:
        return None if self.index is None else self.responses[self.index]

    @classmethod
    def of(cls, issuer: str, urls: tuple[str, ...], responses: tuple[Fetched, ...]) -> ASFetch:
        for index, response in enumerate(responses):
            if response.status != 200:
                continue
            try:
                data = load_json_object(response.body, where=urls[index], what="AS metadata")
            except InvalidInput:
                continue  # not JSON: a client moves on to the next candidate
            try:
                md = ServerMetadata.from_json(data, issuer=issuer, where=urls[index])
            except ZeroAuthError as exc:
                return cls(issuer, urls, responses, index=index, problem=exc)
            return cls(issuer, urls, responses, metadata=md, index=index)
        return cls(issuer, urls, responses)
