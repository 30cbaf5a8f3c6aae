"""Paste-back end to end on loopback: ``PasteUserStep`` against zeroauth's dev AS and the
scripted AS. The pasted URL is checked exactly as a loopback redirect (``state`` C-41, ``iss``
C-43, PKCE C-32); bad input: a URL from another attempt, a wrong ``iss``, an error response,
garbage. Also ``DeviceUserStep(fallback=PasteUserStep())`` with an AS that has no device
endpoint."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.helpers.client_world import scripted, world
from tests.helpers.paste import PasteUser, landing
from zeroauth.client import DeviceUserStep
from zeroauth.core.errors import AuthorizationResponseError, OAuthError


def code_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]


def with_params(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return parts._replace(query=urlencode(query)).geturl()


def token_requests(recorder) -> list:
    return [s for s in recorder.seen if s.path.endswith("/token")]


def test_paste_back_login():
    with world() as w:
        user = PasteUser()
        auth = w.client(user_step=user.step())
        assert auth.token(w.server_url)
        [shown] = user.shown
        assert "open this URL in a browser on any machine" in shown
        [pasted] = user.pasted
        redirect = pasted.split("?", 1)[0]
        assert redirect.startswith("http://127.0.0.1:")
        assert not redirect.startswith("http://127.0.0.1:0/")  # a concrete port, nothing listens
        [token] = token_requests(w.recorder)
        assert token.form()["redirect_uri"] == redirect
        assert token.form()["code_verifier"]  # PKCE, as on loopback


@pytest.mark.anyio
@pytest.mark.all_backends  # the blocking read runs in a worker thread (anyio): asyncio and trio
async def test_paste_back_login_async():
    with world() as w:
        auth = w.client(user_step=PasteUser().step())
        assert await auth.atoken(w.server_url)


def test_just_the_code():
    with world() as w:
        auth = w.client(user_step=PasteUser(lambda url: code_of(landing(url))).step())
        assert auth.token(w.server_url)


def test_a4_url_from_another_attempt_is_refused_and_its_code_not_redeemed():
    """A redirect carrying another ``state``: C-41, nothing sent to the token endpoint."""
    with world() as w:
        user = PasteUser(lambda url: landing(with_params(url, state="another-attempt")))
        auth = w.client(user_step=user.step())
        with pytest.raises(AuthorizationResponseError) as err:
            auth.token(w.server_url)
        assert err.value.requirement == "C-41"
        assert "does not belong to this request" in str(err.value)
        assert token_requests(w.recorder) == []


def test_a3_wrong_iss_is_refused():  # RFC 9207: mix-up
    with scripted() as s:
        s.auth.iss_mode = "wrong"
        auth = s.client(user_step=PasteUser().step())
        with pytest.raises(AuthorizationResponseError) as err:
            auth.token(s.server_url)
        assert err.value.requirement == "C-43"
        assert token_requests(s.recorder) == []


def test_error_response_is_reported():
    with world() as w:  # the dev AS denies for login_hint=deny
        user = PasteUser(lambda url: landing(with_params(url, login_hint="deny")))
        auth = w.client(user_step=user.step())
        with pytest.raises(OAuthError) as err:
            auth.token(w.server_url)
        assert err.value.error == "access_denied"


@pytest.mark.parametrize("garbage", ["I approved it, thanks", "https://", "\x1b]0;owned\x07"])
def test_garbage_is_a_typed_error_before_anything_is_sent(garbage):
    with world() as w:
        auth = w.client(user_step=PasteUser(lambda url: garbage).step())
        with pytest.raises(AuthorizationResponseError):
            auth.token(w.server_url)
        assert token_requests(w.recorder) == []


def test_a_made_up_code_is_refused_by_the_as():
    """A bare code is not checkable here: the AS refuses it (unknown code / PKCE)."""
    with world() as w:
        auth = w.client(user_step=PasteUser(lambda url: "not-a-real-code").step())
        with pytest.raises(OAuthError) as err:
            auth.token(w.server_url)
        assert err.value.error == "invalid_grant"


def test_device_step_falls_back_to_paste_back_without_a_device_endpoint():
    with scripted() as s:
        user = PasteUser()
        step = DeviceUserStep(show=lambda _: None, fallback=user.step())
        auth = s.client(user_step=step)
        assert auth.token(s.server_url)
        assert step.shown == []
        assert len(user.pasted) == 1
