"""Payment endpoints over HTTP (contract section 6): input the fuzzer (tests/api/test_fuzz.py) found unstorable.

PostgreSQL refuses NUL in text; these answered 500 with the database's error. The refusals happen before the
order's workflow is asked anything, so Temporal is not needed (it is unreachable in these tests).
"""

from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.http import refused

PAYMENT = {"orderId": str(uuid4()), "amountMinor": 6900, "currency": "USD", "provider": "Manual"}


async def _pending(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post("/api/payments", json=PAYMENT)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("provider", "Man\x00ual", "provider_invalid"),
        ("currency", "U\x00D", "currency_invalid"),
    ],
)
async def test_create_refuses_nul_characters(api: httpx.AsyncClient, field: str, value: str, code: str) -> None:
    refused(await api.post("/api/payments", json={**PAYMENT, field: value}), 400, code)
    assert (await api.get("/api/payments")).json() == []


async def test_succeed_and_fail_refuse_nul_characters_and_leave_the_payment_pending(api: httpx.AsyncClient) -> None:
    payment = await _pending(api)

    succeed = await api.post(f"/api/payments/{payment['id']}/succeed", json={"providerReference": "REF\x00"})
    refused(succeed, 400, "provider_reference_invalid")
    fail = await api.post(f"/api/payments/{payment['id']}/fail", json={"failureReason": "declined\x00"})
    refused(fail, 400, "failure_reason_invalid")

    assert (await api.get(f"/api/payments/{payment['id']}")).json() == payment
