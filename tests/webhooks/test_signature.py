"""HubSpot signature checks: the published vectors, the time window, URI forms, the SDK."""
from __future__ import annotations

import random
import string
from datetime import datetime, timedelta, timezone

import pytest
from hubspot.exceptions import InvalidSignatureTimestampError
from hubspot.utils.signature import Signature

from webhooks.signature import (Check, decode_uri, sign_v1, sign_v2, sign_v3, timestamp_ms,
                                verify_v1, verify_v2, verify_v3)

# docs/hubspot-api.md §5
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
B1 = "{'example_field':'example_value'}"
B2 = '{"example_field":"example_value"}'
NODE_V1_BODY = ('[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
                '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
                '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]')
V3_TIMESTAMP = "1693657560000"
V3_SIGNATURE = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
V3_SIGNED_AT = datetime(2023, 9, 2, 12, 26, tzinfo=timezone.utc)  # == V3_TIMESTAMP


@pytest.mark.parametrize("body, expected", [
    (B1, "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750"),
    (NODE_V1_BODY, "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"),
])
def test_v1_published_vectors(body, expected):
    assert sign_v1(SECRET, body) == expected
    assert verify_v1(SECRET, expected, body=body.encode()) is True
    assert verify_v1(SECRET, expected, body=body + " ") is False


@pytest.mark.parametrize("method, body, expected", [
    ("POST", B1, "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383"),
    ("GET", "", "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"),
    ("POST", B2, "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"),
])
def test_v2_published_vectors(method, body, expected):
    assert sign_v2(SECRET, method, URI, body) == expected
    assert verify_v2(SECRET, expected, method=method, uri=URI, body=body.encode()) is True
    assert verify_v2(SECRET, expected, method=method, uri=URI + "?x=1", body=body) is False


def test_v3_published_vector_with_injected_clock():
    assert timestamp_ms(V3_SIGNED_AT) == V3_TIMESTAMP
    assert sign_v3(SECRET, "POST", URI, B1, V3_TIMESTAMP) == V3_SIGNATURE
    assert verify_v3(SECRET, V3_SIGNATURE, method="POST", uri=URI, body=B1.encode(),
                     timestamp=V3_TIMESTAMP, now=V3_SIGNED_AT) is Check.VALID


def test_v3_published_vector_is_stale_today():
    assert verify_v3(SECRET, V3_SIGNATURE, method="POST", uri=URI, body=B1, timestamp=V3_TIMESTAMP,
                     now=datetime.now(timezone.utc)) is Check.STALE


@pytest.mark.parametrize("offset, expected", [
    (timedelta(0), Check.VALID),
    (timedelta(minutes=5), Check.VALID),
    (timedelta(minutes=5, milliseconds=1), Check.STALE),
    (timedelta(days=-1), Check.FUTURE),
    (-timedelta(minutes=5), Check.VALID),
    (-timedelta(minutes=5, milliseconds=1), Check.FUTURE),
    (timedelta(days=1), Check.STALE),
])
def test_v3_window_is_five_minutes_each_way(offset, expected):
    """`offset` is how long after signing the request is checked (negative: our clock is behind)."""
    assert verify_v3(SECRET, V3_SIGNATURE, method="POST", uri=URI, body=B1, timestamp=V3_TIMESTAMP,
                     now=V3_SIGNED_AT + offset) is expected


def test_sdk_lets_future_timestamps_pass_but_we_do_not():
    future = V3_SIGNED_AT + timedelta(days=365 * 50)
    stamp = timestamp_ms(future)
    signature = sign_v3(SECRET, "POST", URI, B1, stamp)
    assert Signature.is_valid(signature, SECRET, B1, URI, "POST", "v3", stamp) is True
    assert verify_v3(SECRET, signature, method="POST", uri=URI, body=B1, timestamp=stamp,
                     now=datetime.now(timezone.utc)) is Check.FUTURE


def test_sdk_and_we_both_refuse_stale_timestamps():
    with pytest.raises(InvalidSignatureTimestampError):
        Signature.is_valid(V3_SIGNATURE, SECRET, B1, URI, "POST", "v3", V3_TIMESTAMP)


@pytest.mark.parametrize("signature, timestamp, expected", [
    (None, V3_TIMESTAMP, Check.MISSING),
    ("", V3_TIMESTAMP, Check.MISSING),
    (V3_SIGNATURE, None, Check.MISSING),
    (V3_SIGNATURE, "", Check.MISSING),
    (V3_SIGNATURE, "1693657560000.0", Check.BAD_TIMESTAMP),
    (V3_SIGNATURE, "-1693657560000", Check.BAD_TIMESTAMP),
    (V3_SIGNATURE, " 1693657560000", Check.BAD_TIMESTAMP),
    (V3_SIGNATURE, "1.69e12", Check.BAD_TIMESTAMP),
    (V3_SIGNATURE, "١٦٩٣٦٥٧٥٦٠٠٠٠", Check.BAD_TIMESTAMP),  # Arabic-Indic digits: isdigit() is True
    (V3_SIGNATURE, "9" * 5000, Check.BAD_TIMESTAMP),  # int() would refuse it with ValueError
    (V3_SIGNATURE, "1693657560001", Check.MISMATCH),  # in the window, but not what was signed
    (V3_SIGNATURE.lower(), V3_TIMESTAMP, Check.MISMATCH),
    ("é" + V3_SIGNATURE[1:], V3_TIMESTAMP, Check.MISMATCH),  # non-ASCII: no TypeError
])
def test_v3_refuses_missing_malformed_and_wrong_headers(signature, timestamp, expected):
    assert verify_v3(SECRET, signature, method="POST", uri=URI, body=B1, timestamp=timestamp,
                     now=V3_SIGNED_AT) is expected


@pytest.mark.parametrize("method, uri, body", [
    ("PUT", URI, B1),
    ("POST", URI + "?a=1", B1),
    ("POST", "http://www.example.com/webhook_uri", B1),
    ("POST", "https://www.example.com/webhook_uri/", B1),
    ("POST", URI, B1 + "\n"),
    ("POST", URI, B2),
])
def test_v3_signature_covers_method_uri_and_body(method, uri, body):
    assert verify_v3(SECRET, V3_SIGNATURE, method=method, uri=uri, body=body,
                     timestamp=V3_TIMESTAMP, now=V3_SIGNED_AT) is Check.MISMATCH


def test_decode_uri_decodes_exactly_the_twelve_listed_escapes():
    escaped = "%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B"
    assert decode_uri("https://h/p?q=" + escaped) == "https://h/p?q=:/?@!$'()*,;"
    assert decode_uri("https://h/p?q=" + escaped.lower()) == "https://h/p?q=:/?@!$'()*,;"
    assert decode_uri("https://h/a%20b?x=%2B%25%3D%26%23") == "https://h/a%20b?x=%2B%25%3D%26%23"
    assert decode_uri("https://h/%253A") == "https://h/%253A"  # decoded once, not twice


@pytest.mark.parametrize("signed_form", ["https://h/hook?next=%2Fhome%3Fa%3A1",
                                         "https://h/hook?next=/home?a:1"])
def test_v3_accepts_the_uri_signed_raw_or_decoded(signed_form):
    received = "https://h/hook?next=%2Fhome%3Fa%3A1"
    signature = sign_v3(SECRET, "POST", signed_form, B2, V3_TIMESTAMP)
    assert verify_v3(SECRET, signature, method="POST", uri=received, body=B2,
                     timestamp=V3_TIMESTAMP, now=V3_SIGNED_AT) is Check.VALID


def test_v3_decoding_does_not_accept_other_urls():
    signature = sign_v3(SECRET, "POST", "https://h/hook?next=/other", B2, V3_TIMESTAMP)
    assert verify_v3(SECRET, signature, method="POST", uri="https://h/hook?next=%2Fhome",
                     body=B2, timestamp=V3_TIMESTAMP, now=V3_SIGNED_AT) is Check.MISMATCH


def test_signatures_match_the_official_sdk_on_random_inputs():
    rng = random.Random(6)
    alphabet = string.printable + "éß€😀"
    for _ in range(200):
        secret = "".join(rng.choices(string.ascii_letters + string.digits + "-", k=36))
        body = "".join(rng.choices(alphabet, k=rng.randrange(0, 300)))
        uri = "https://example.com/" + "".join(rng.choices(string.ascii_letters + "/?=&", k=20))
        method = rng.choice(["POST", "GET", "PUT"])
        stamp = str(rng.randrange(10**12, 2 * 10**12))
        assert sign_v1(secret, body) == Signature.get_signature(secret, body, "v1")
        assert sign_v2(secret, method, uri, body) == Signature.get_signature(
            secret, body, "v2", uri, method)
        assert sign_v3(secret, method, uri, body, stamp) == Signature.get_signature(
            secret, body, "v3", uri, method, stamp)
        assert sign_v3(secret, method, uri, body.encode(), stamp) == sign_v3(
            secret, method, uri, body, stamp)


def test_naive_clock_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_v3(SECRET, V3_SIGNATURE, method="POST", uri=URI, body=B1, timestamp=V3_TIMESTAMP,
                  now=datetime(2023, 9, 2, 12, 26))
