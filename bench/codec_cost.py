"""What the payload codec costs per order payload: `python -m bench.codec_cost [--rounds N]`.

For an order as the workflow returns it from an update (`OrderDetails`, the largest payload of a lifecycle) with
1, 10 and 50 lines, it measures encode + decode through the project's data converter with and without the
encryption codec (pydantic JSON either way), the codec alone (encrypt + decrypt of the serialized payload), and
the payload's size on the wire. CPU time of this process (`time.process_time`), so a busy machine inflates the
figures less than wall-clock time would; no Temporal server involved.
"""

import argparse
import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from contracts.order import OrderDetails
from stack.codec import PayloadKey
from stack.settings import Settings
from stack.temporal import data_converter


def order(lines: int) -> OrderDetails:
    now = datetime.now(UTC).isoformat()
    item = {
        "productId": str(uuid.uuid4()),
        "sku": "ARM-BLK",
        "productName": "Monitor Arm",
        "variantName": "Black",
        "unitPriceAmountMinor": 6900,
        "currency": "USD",
        "quantity": 2,
        "lineTotalAmountMinor": 13800,
    }
    return OrderDetails.model_validate(
        {
            "id": str(uuid.uuid4()),
            "customerName": "Ada Lovelace",
            "customerEmail": "ada.lovelace@example.com",
            "status": "PendingPayment",
            "totalAmountMinor": 13800 * lines,
            "currency": "USD",
            "createdAt": now,
            "updatedAt": now,
            "items": [
                {
                    **item,
                    "id": str(uuid.uuid4()),
                    "productVariantId": str(uuid.uuid4()),
                    "inventoryReservationId": str(uuid.uuid4()),
                }
                for _ in range(lines)
            ],
        }
    )


async def round_trip_us(converter: DataConverter, value: OrderDetails, rounds: int) -> tuple[float, Payload]:
    """Mean µs of one encode + decode of `value`, and the encoded payload."""
    [payload] = await converter.encode([value])
    for _ in range(min(rounds, 200)):  # warm-up
        await converter.decode(await converter.encode([value]), [OrderDetails])
    started = time.process_time_ns()
    for _ in range(rounds):
        await converter.decode(await converter.encode([value]), [OrderDetails])
    return (time.process_time_ns() - started) / rounds / 1000, payload


async def codec_us(codec: PayloadCodec, payload: Payload, rounds: int) -> float:
    """Mean µs of the codec alone: encrypt + decrypt of an already serialized payload."""
    for _ in range(min(rounds, 200)):
        await codec.decode(await codec.encode([payload]))
    started = time.process_time_ns()
    for _ in range(rounds):
        await codec.decode(await codec.encode([payload]))
    return (time.process_time_ns() - started) / rounds / 1000


async def main(rounds: int) -> None:
    settings = Settings(_env_file=None, payload_keys=str(PayloadKey.generate("bench")))
    encrypted = data_converter(settings)
    plain = dataclasses.replace(encrypted, payload_codec=None)
    print(f"encode + decode of one OrderDetails payload, mean of {rounds} rounds")
    print(f"{'lines':>5} | {'pydantic µs':>11} | {'+ codec µs':>10} | {'codec alone µs':>14} | {'bytes plain':>11} | "
          f"{'bytes encrypted':>15} | {'+ bytes':>7}")  # fmt: skip
    for lines in (1, 10, 50):
        value = order(lines)
        plain_us, plain_payload = await round_trip_us(plain, value, rounds)
        encrypted_us, encrypted_payload = await round_trip_us(encrypted, value, rounds)
        assert encrypted.payload_codec is not None
        alone_us = await codec_us(encrypted.payload_codec, plain_payload, rounds)
        plain_bytes, encrypted_bytes = plain_payload.ByteSize(), encrypted_payload.ByteSize()
        print(f"{lines:>5} | {plain_us:>11.1f} | {encrypted_us:>10.1f} | {alone_us:>14.1f} | "
              f"{plain_bytes:>11} | {encrypted_bytes:>15} | {encrypted_bytes - plain_bytes:>7}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="encode + decode rounds per size")
    asyncio.run(main(parser.parse_args().rounds))
