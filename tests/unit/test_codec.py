"""The payload codec: AES-256-GCM, key rotation, passthrough of unencrypted payloads, tampering refused."""

import base64

import pytest
from temporalio.api.common.v1 import Payload

from api.customers import customer_ref, customer_runs_query
from contracts.order import OrderDetails
from stack.codec import (
    ENCODING,
    KEY_ID,
    NONCE_BYTES,
    EncryptionCodec,
    PayloadDecryptionError,
    PayloadKey,
    PayloadKeyError,
    parse_payload_keys,
    payload_keys,
)
from stack.settings import Settings
from stack.temporal import data_converter
from tests.orders import pending_order
from workflows.search_attributes import SUMMARY_LIMIT_BYTES, run_summary

EMAIL = "ada.lovelace@example.com"


def _settings(keys: list[PayloadKey], app_secret: str = "test-secret") -> Settings:
    return Settings(_env_file=None, payload_keys=",".join(map(str, keys)), app_secret=app_secret)


async def test_an_order_round_trips_and_its_payload_holds_no_customer_data() -> None:
    key = PayloadKey.generate("k1")
    converter = data_converter(_settings([key]))
    order = pending_order()

    [encoded] = await converter.encode([order])

    assert encoded.metadata["encoding"] == ENCODING
    assert encoded.metadata[KEY_ID] == b"k1"
    wire = encoded.SerializeToString()
    assert order.customer_email.encode() not in wire and order.customer_name.encode() not in wire
    assert await converter.decode([encoded], [OrderDetails]) == [order]


async def test_each_payload_gets_its_own_nonce() -> None:
    codec = EncryptionCodec([PayloadKey.generate("k1")])
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'"same"')

    first, second = await codec.encode([payload, payload])

    assert first.data[:NONCE_BYTES] != second.data[:NONCE_BYTES]
    assert first.data != second.data


async def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old, new = PayloadKey.generate("2025-01"), PayloadKey.generate("2026-01")
    before = EncryptionCodec([old])
    after = EncryptionCodec(parse_payload_keys(f"{new},{old}"))
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"customerEmail": "ada@example.com"}')

    [written_before] = await before.encode([payload])
    [written_after] = await after.encode([payload])

    assert written_after.metadata[KEY_ID] == b"2026-01"
    assert await after.decode([written_before, written_after]) == [payload, payload]
    with pytest.raises(PayloadDecryptionError, match="2026-01"):
        await before.decode([written_after])  # a replica that does not know the new key yet says which


async def test_unencrypted_payloads_decode_unchanged() -> None:
    codec = EncryptionCodec([PayloadKey.generate("k1")])
    plain = [
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}'),
        Payload(metadata={"encoding": b"binary/null"}),
    ]

    assert await codec.decode(plain) == plain


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "key id", "truncated"])
async def test_tampered_payloads_are_refused(part: str) -> None:
    one, two = PayloadKey.generate("one"), PayloadKey.generate("two")
    codec = EncryptionCodec([one, two])
    [encoded] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"total": 6900')])
    tampered = Payload()
    tampered.CopyFrom(encoded)
    if part == "ciphertext":
        tampered.data = encoded.data[:-1] + bytes([encoded.data[-1] ^ 1])
    elif part == "nonce":
        tampered.data = bytes([encoded.data[0] ^ 1]) + encoded.data[1:]
    elif part == "key id":
        tampered.metadata[KEY_ID] = b"two"
    else:
        tampered.data = encoded.data[:4]  # shorter than any nonce AES-GCM takes

    with pytest.raises(PayloadDecryptionError):
        await codec.decode([tampered])


def test_payload_keys_are_parsed_from_settings_first_one_encrypts() -> None:
    first, second = PayloadKey.generate("a"), PayloadKey.generate("b")
    settings = _settings([first, second])

    assert payload_keys(settings) == [first, second]
    assert EncryptionCodec.from_settings(settings).key_id == "a"
    # a key written with the standard base64 alphabet and padding is the same key
    standard = base64.b64encode(first.key).decode()
    assert parse_payload_keys(f" a : {standard} ") == [first]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no key"),
        ("nokey", "id:base64key"),
        ("a:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("a:not*base64!", "base64|32 bytes"),
        ("bad id:" + base64.b64encode(bytes(32)).decode(), "key id"),
        (f"a:{base64.b64encode(bytes(32)).decode()},a:{base64.b64encode(bytes(32)).decode()}", "twice"),
    ],
)
def test_malformed_payload_keys_are_refused_without_echoing_them(text: str, problem: str) -> None:
    with pytest.raises(PayloadKeyError, match=problem) as refused:
        parse_payload_keys(text)
    assert "AAAAAAAA" not in str(refused.value)


def test_a_key_never_shows_in_its_repr() -> None:
    key = PayloadKey.generate("k1")

    assert base64.urlsafe_b64encode(key.key).decode()[:20] not in repr(key)
    assert repr(key.key) not in repr(key)


def test_a_missing_payload_key_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="PAYLOAD_KEYS"):
        data_converter(Settings(_env_file=None))


def test_customer_ref_is_a_keyed_hash_of_the_normalised_email() -> None:
    settings = _settings([PayloadKey.generate("k")])
    other_secret = _settings([PayloadKey.generate("k")], app_secret="another-secret")

    ref = customer_ref(settings, EMAIL)

    assert len(ref) == 64 and int(ref, 16) >= 0
    assert customer_ref(settings, f"  {EMAIL.upper()} ") == ref
    assert customer_ref(settings, "grace@example.com") != ref
    assert customer_ref(other_secret, EMAIL) != ref
    assert customer_runs_query(settings, EMAIL) == f'CustomerRef = "{ref}"'


async def test_the_run_summary_names_no_customer_and_fits_temporals_limit() -> None:
    longest = run_summary(500, "PendingPayment", 99_999_999_999_99, "USD")
    converter = data_converter(_settings([PayloadKey.generate("a-64-character-key-id-" + "x" * 41)]))

    [encoded] = await converter.encode([longest])

    assert longest == "PendingPayment · 99999999999.99 USD · 500 line(s)"
    assert run_summary(2) == "Order · 2 line(s)"
    assert encoded.ByteSize() <= SUMMARY_LIMIT_BYTES
