"""HMAC-SHA256 signatures for webhook bodies, inbound and outbound (the Stripe scheme, with
the timestamp in its own header).

    X-Lockstep-Timestamp: 1767225600                      # unix seconds when it was signed
    X-Lockstep-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Lockstep-Delivery:  <sender's id for this delivery> # optional; makes it idempotent

The timestamp is part of the signed text, so it cannot be moved; a receiver refuses it more
than 5 minutes away from its clock (`TOLERANCE`) and refuses a signature it has seen before.
A sender retrying a delivery signs it afresh (new timestamp) and keeps its delivery id.
Several `v1=` values, comma-separated, let a sender roll its secret without downtime.
Written by hand because it is ten lines of `hmac` and the standard webhook libraries
(`standardwebhooks`, `svix`) fix other header names and a base64 secret format.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from lockstep.errors import LockstepError

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "SignatureError",
    "sign",
    "signature_headers",
    "verify",
]

TIMESTAMP_HEADER = "X-Lockstep-Timestamp"
SIGNATURE_HEADER = "X-Lockstep-Signature"
DELIVERY_HEADER = "X-Lockstep-Delivery"
TOLERANCE = 300.0
"""Seconds a signed timestamp may differ from the receiver's clock."""


class SignatureError(LockstepError):
    """A webhook call without a valid, fresh signature (the server answers 401)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(
    secret: str, body: bytes, timestamp: int, delivery: str | None = None
) -> dict[str, str]:
    """The headers a sender adds to a signed POST of `body`."""
    headers = {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"v1={sign(secret, timestamp, body)}",
    }
    if delivery:
        headers[DELIVERY_HEADER] = delivery
    return headers


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> str:
    """The matching signature of a signed call; SignatureError when a header is missing, the
    timestamp is stale (or from the future) or no `v1=` value matches."""
    stamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if not stamp or not given:
        raise SignatureError(
            f"the call is not signed: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds, got {stamp!r}") from None
    if abs(now - timestamp) > TOLERANCE:
        raise SignatureError(
            f"stale signature: signed at {timestamp}, {abs(now - timestamp):.0f}s from now "
            f"(limit {TOLERANCE:.0f}s)"
        )
    expected = sign(secret, timestamp, body)
    for part in given.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and hmac.compare_digest(value, expected):
            return value
    raise SignatureError("bad signature: it does not match the body and timestamp")
