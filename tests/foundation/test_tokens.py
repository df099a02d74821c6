"""JWT checks (API.md §8) on an authenticated route: every bad token is a 401 envelope."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from s3api.errors import ApiError, ErrorCode
from s3api.security.tokens import TokenIssuer
from tests.support.databases import TEST_SECRET
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_ok


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _signed(header: dict[str, Any], claims: dict[str, Any], digest: str = "sha256") -> str:
    """A JWS built by hand, so any header and payload can be signed with the test secret."""
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
    mac = hmac.new(TEST_SECRET.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64url(mac)}"


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + timedelta(hours=1)}
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me_error(api: ApiClient, headers: dict[str, str], code: str) -> None:
    assert_error(await api.http.get("/me", headers=headers), 401, code)


async def test_missing_authorization_header_is_auth_required(api: ApiClient) -> None:
    await _me_error(api, {}, "AUTH_REQUIRED")


async def test_non_bearer_scheme_is_auth_required(api: ApiClient) -> None:
    user = await api.sign_in()
    for header in (f"Basic {user.token}", f"Token {user.token}", user.token, "Bearer"):
        await _me_error(api, {"Authorization": header}, "AUTH_REQUIRED")


async def test_garbage_token_is_invalid(api: ApiClient) -> None:
    for token in ("garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9...", "x" * 5000):
        await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


async def test_hand_made_hs256_token_with_all_claims_is_accepted(api: ApiClient) -> None:
    user = await api.sign_in()
    token = jwt.encode(_claims(user.user_id), TEST_SECRET, algorithm="HS256")
    assert assert_ok(await api.http.get("/me", headers=_bearer(token)))["user_id"] == user.user_id


async def test_bearer_scheme_is_case_insensitive(api: ApiClient) -> None:
    user = await api.sign_in()
    response = await api.http.get("/me", headers={"Authorization": f"bearer {user.token}"})
    assert assert_ok(response)["user_id"] == user.user_id


async def test_token_signed_with_another_secret_is_invalid(api: ApiClient) -> None:
    user = await api.sign_in()
    token = jwt.encode(_claims(user.user_id), "another-secret-" + "x" * 40, algorithm="HS256")
    await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


async def test_unsigned_alg_none_token_is_invalid(api: ApiClient) -> None:
    user = await api.sign_in()
    now = _now()
    header = _b64url_json({"alg": "none", "typ": "JWT"})
    payload = _b64url_json({"sub": user.user_id, "iat": now, "exp": now + 3600})
    await _me_error(api, _bearer(f"{header}.{payload}."), "AUTH_INVALID_TOKEN")


@pytest.mark.parametrize(("algorithm", "digest"), [("HS512", "sha512"), ("HS384", "sha384")])
async def test_token_with_another_algorithm_and_same_secret_is_invalid(
    api: ApiClient, algorithm: str, digest: str
) -> None:
    user = await api.sign_in()
    now = _now()
    token = _signed(
        {"alg": algorithm, "typ": "JWT"},
        {"sub": user.user_id, "iat": now, "exp": now + 3600},
        digest,
    )
    await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


async def test_token_with_tampered_sub_is_invalid(api: ApiClient) -> None:
    victim = await api.sign_in()
    attacker = await api.sign_in()
    header, payload, signature = attacker.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = victim.user_id
    forged = f"{header}.{_b64url_json(claims)}.{signature}"
    await _me_error(api, _bearer(forged), "AUTH_INVALID_TOKEN")


async def test_expired_token_is_auth_expired_token(api: ApiClient) -> None:
    user = await api.sign_in()
    past = datetime.now(UTC) - timedelta(days=31)
    token = jwt.encode(
        _claims(user.user_id, iat=past, exp=past + timedelta(days=30)),
        TEST_SECRET,
        algorithm="HS256",
    )
    await _me_error(api, _bearer(token), "AUTH_EXPIRED_TOKEN")


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
async def test_token_missing_a_required_claim_is_invalid(api: ApiClient, claim: str) -> None:
    user = await api.sign_in()
    claims = _claims(user.user_id)
    del claims[claim]
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


@pytest.mark.parametrize("sub", [12345, ""], ids=["int", "empty"])
async def test_token_with_non_string_or_empty_sub_is_invalid(api: ApiClient, sub: object) -> None:
    now = _now()
    token = _signed({"alg": "HS256", "typ": "JWT"}, {"sub": sub, "iat": now, "exp": now + 3600})
    await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


async def test_token_of_unknown_user_is_invalid(api: ApiClient) -> None:
    token = jwt.encode(_claims(str(uuid.uuid4())), TEST_SECRET, algorithm="HS256")
    await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


async def test_token_with_an_oversized_sub_is_invalid(api: ApiClient) -> None:
    token = jwt.encode(_claims("u" * 300), TEST_SECRET, algorithm="HS256")
    await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


JWT_ROUTES = [
    ("GET", "/me"),
    ("GET", "/presets"),
    ("GET", "/presets/interior"),
    ("GET", "/rules"),
    ("POST", "/rules"),
    ("GET", "/rules/some-id"),
    ("PUT", "/rules/some-id"),
    ("DELETE", "/rules/some-id"),
]


async def test_every_jwt_route_requires_a_token(api: ApiClient) -> None:
    for method, path in JWT_ROUTES:
        body: dict[str, str] | None = {} if method in {"POST", "PUT"} else None
        response = await api.http.request(method, path, json=body)
        assert_error(response, 401, "AUTH_REQUIRED")


async def test_every_jwt_route_rejects_a_forged_token(api: ApiClient) -> None:
    user = await api.sign_in()
    forged = jwt.encode(_claims(user.user_id), "not-the-secret-" + "y" * 40, algorithm="HS256")
    for method, path in JWT_ROUTES:
        body: dict[str, str] | None = {} if method in {"POST", "PUT"} else None
        response = await api.http.request(method, path, json=body, headers=_bearer(forged))
        assert_error(response, 401, "AUTH_INVALID_TOKEN")


async def test_earlier_token_stays_valid_after_the_device_signs_in_again(api: ApiClient) -> None:
    first = await api.sign_in("dev-token-0123456789")
    second = await api.sign_in("dev-token-0123456789")
    for user in (first, second):
        assert (await api.me(user))["user_id"] == first.user_id


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    clock = {"now": datetime.now(UTC)}
    issuer = TokenIssuer("k" * 32, ttl_seconds=60, now=lambda: clock["now"])
    token = issuer.issue("user-1")
    assert issuer.verify(token) == "user-1"
    assert issuer.verify(token) == "user-1"  # answered from memory
    clock["now"] += timedelta(seconds=61 + issuer.leeway_seconds)
    with pytest.raises(ApiError) as refused:
        issuer.verify(token)
    assert refused.value.code is ErrorCode.AUTH_EXPIRED_TOKEN
    with pytest.raises(ApiError):
        issuer.verify(token)


def test_a_remembered_token_does_not_vouch_for_a_tampered_one() -> None:
    issuer = TokenIssuer("k" * 32, ttl_seconds=60)
    token = issuer.issue("user-1")
    assert issuer.verify(token) == "user-1"
    with pytest.raises(ApiError) as refused:
        issuer.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert refused.value.code is ErrorCode.AUTH_INVALID_TOKEN


async def test_a_signed_token_with_an_enormous_exp_is_401_not_500(api: ApiClient) -> None:
    user = await api.sign_in()
    for exp in (10**400, 1e308):
        token = _signed(
            {"alg": "HS256", "typ": "JWT"}, {"sub": user.user_id, "iat": _now(), "exp": exp}
        )
        await _me_error(api, _bearer(token), "AUTH_INVALID_TOKEN")


def _issuer_at(moment: datetime, leeway: float = 5.0) -> TokenIssuer:
    return TokenIssuer("k" * 32, ttl_seconds=60, now=lambda: moment, leeway_seconds=leeway)


def test_a_token_issued_a_second_in_the_future_is_accepted_within_the_leeway() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    token = _issuer_at(start + timedelta(seconds=1)).issue("user-1")
    assert _issuer_at(start).verify(token) == "user-1"


def test_a_token_issued_beyond_the_leeway_in_the_future_is_invalid() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    token = _issuer_at(start + timedelta(seconds=6)).issue("user-1")
    with pytest.raises(ApiError) as refused:
        _issuer_at(start).verify(token)
    assert refused.value.code is ErrorCode.AUTH_INVALID_TOKEN


def test_a_token_expired_within_the_leeway_is_still_accepted_and_then_not() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    token = _issuer_at(start).issue("user-1")
    assert _issuer_at(start + timedelta(seconds=64)).verify(token) == "user-1"
    with pytest.raises(ApiError) as refused:
        _issuer_at(start + timedelta(seconds=65)).verify(token)
    assert refused.value.code is ErrorCode.AUTH_EXPIRED_TOKEN
    with pytest.raises(ApiError):
        _issuer_at(start + timedelta(seconds=1), leeway=0).verify(
            _issuer_at(start + timedelta(seconds=2)).issue("user-1")
        )
