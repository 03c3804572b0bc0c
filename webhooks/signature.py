"""HubSpot request signatures: v3 (what the receiver enforces) and the older v1/v2 forms.

v3 is base64(HMAC-SHA256(client secret, method + URI + raw body + timestamp)), with the
timestamp in milliseconds from the `X-HubSpot-Request-Timestamp` header. Bodies are hashed
as the raw bytes received: re-encoding a parsed body would change what was signed.

URI decoding (docs/hubspot-api.md §8): HubSpot's docs say to decode a list of escapes
before signing; the official SDKs decode nothing. `verify_v3` accepts a signature over
either form. Both forms name the same URL and both need the secret, so accepting either
costs no security, and it keeps leadsync working whichever reading HubSpot's signer follows.
"""
from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

TOLERANCE = timedelta(minutes=5)

# The escapes HubSpot's v3 docs list as decoded before signing (§8), by hex code.
_DECODED = {"3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
            "27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";"}
_ESCAPE = re.compile("%(" + "|".join(_DECODED) + ")", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Check(enum.Enum):
    """The outcome of checking a v3 signature; every value but VALID means 401."""

    VALID = "valid"
    MISSING = "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header"
    BAD_TIMESTAMP = "X-HubSpot-Request-Timestamp is not a whole number of milliseconds"
    STALE = "request timestamp is more than 5 minutes old"
    FUTURE = "request timestamp is more than 5 minutes in the future"
    MISMATCH = "signature does not match"


def decode_uri(uri: str) -> str:
    """`uri` with the 12 escapes of HubSpot's v3 docs (%3A %2F %3F %40 …) decoded; others kept."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(1).upper()], uri)


def sign_v3(secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    """The v3 signature of a request exactly as given (no URI decoding)."""
    message = method.encode() + uri.encode() + _bytes(body) + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_v3(secret: str, signature: str | None, *, method: str, uri: str, body: bytes | str,
              timestamp: str | None, now: datetime, tolerance: timedelta = TOLERANCE) -> Check:
    """Check a v3 signature against `now`; the timestamp may be off by `tolerance` either way.

    Future timestamps are refused too (the SDK lets them pass): a request is replayable only
    while its timestamp is within the window, so a far-future timestamp, from a skewed signer
    or from someone who once held the secret, would otherwise stay replayable for that long.
    """
    if not signature or not timestamp:
        return Check.MISSING
    # The length cap keeps int() away from huge inputs (it refuses > 4300 digits).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 18):
        return Check.BAD_TIMESTAMP
    drift = int(timestamp) - _millis(now)
    window = tolerance // timedelta(milliseconds=1)
    if drift < -window:
        return Check.STALE
    if drift > window:
        return Check.FUTURE
    candidates = dict.fromkeys((decode_uri(uri), uri))  # decoded first; the raw form if different
    # compare_digest on bytes: it refuses non-ASCII str, and a header may hold anything.
    given = signature.encode("utf-8", "replace")
    if any(hmac.compare_digest(sign_v3(secret, method, candidate, body, timestamp).encode(), given)
           for candidate in candidates):
        return Check.VALID
    return Check.MISMATCH


def sign_v2(secret: str, method: str, uri: str, body: bytes | str) -> str:
    """The v2 signature: hex SHA-256 of secret + method + URI + body (no key, no timestamp)."""
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + _bytes(body)).hexdigest()


def verify_v2(secret: str, signature: str, *, method: str, uri: str, body: bytes | str) -> bool:
    """True if `signature` is the v2 signature of the request (workflow actions, CRM cards)."""
    return hmac.compare_digest(sign_v2(secret, method, uri, body).encode(),
                               signature.encode("utf-8", "replace"))


def sign_v1(secret: str, body: bytes | str) -> str:
    """The v1 signature: hex SHA-256 of secret + body."""
    return hashlib.sha256(secret.encode() + _bytes(body)).hexdigest()


def verify_v1(secret: str, signature: str, *, body: bytes | str) -> bool:
    """True if `signature` is the v1 signature of `body`. v1 signs no URL and no time: replayable."""
    return hmac.compare_digest(sign_v1(secret, body).encode(), signature.encode("utf-8", "replace"))


def timestamp_ms(moment: datetime) -> str:
    """`moment` as the header's text: whole milliseconds since the epoch."""
    return str(_millis(moment))


def _millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    # Integer arithmetic: datetime.timestamp() is a float and can be off by a millisecond.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body
