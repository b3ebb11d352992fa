"""The hostile-load phase (`--abuse`): the same honest lifecycles without attackers, then among them.

An honest shopper places and pays as a customer does (no token, from its own address through `X-Forwarded-For`,
the bench being the API's trusted proxy: its writes count against the anonymous limits) and takes the
operator's steps (the payment succeeds, the order ships) with the token. Each attacker has an address of its own
and cycles through hoarding, a pay flood on one order, actions on random ids, malformed and oversized bodies and
credential guessing, until the honest run ends.
"""

import asyncio
import re
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp

from bench.drivers import CUSTOMER_NAME, KEEPALIVE, UnexpectedResponse
from bench.load import OP_TIMEOUT, drive
from bench.report import Abuse, Kind, Measurement, Subject
from bench.scale import invariants
from bench.servers import Say, Stack
from tooling.invariants import Expectations

SHOPPERS = 20
ATTACK_PAUSE_S = 0.2  # an attacker's pause between attempts: 200 of them make ~1,000 requests/s at most
MAX_P95_RATIO = 2.0
DEADLINE_S = 120.0  # for each of the two honest runs
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
Json = dict[str, Any]


def _forwarded(network: int, host: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{network}.{host // 250}.{host % 250 + 1}"}


@dataclass
class Honest:
    anonymous: aiohttp.ClientSession
    operator: aiohttp.ClientSession
    variants: list[UUID]
    network: int  # of the shoppers' addresses: each run starts with full buckets
    server_errors: int = 0
    shipped: list[str] = field(default_factory=list)

    async def call(self, path: str, status: int, body: Json, customer: int | None = None) -> Json:
        """POST as the operator, or as customer number `customer` (no token, its own address)."""
        session = self.operator if customer is None else self.anonymous
        headers = {} if customer is None else _forwarded(self.network, customer % SHOPPERS)
        async with session.post(path, json=body, headers=headers) as response:
            self.server_errors += response.status >= 500
            if response.status != status:
                raise UnexpectedResponse(f"POST {path} -> {response.status}: {(await response.text())[:200]}")
            answer: Json = await response.json()
            return answer

    async def place(self, index: int, email: str) -> Json:
        line = {"productVariantId": str(self.variants[index % len(self.variants)]), "quantity": 1}
        return await self.call("/api/orders", 201, {"customerName": CUSTOMER_NAME, "customerEmail": email,
                                                    "items": [line]}, index)  # fmt: skip

    async def lifecycle(self, index: int) -> None:
        order = await self.place(index, f"shopper-{index % SHOPPERS}@bench.example")
        payment = {"orderId": order["id"], "amountMinor": order["totalAmountMinor"], "currency": order["currency"]}
        paid = await self.call("/api/payments", 201, {**payment, "provider": "Manual"}, index)
        await self.call(f"/api/payments/{paid['id']}/succeed", 200, {"providerReference": f"H-{index}"})
        shipment = await self.call("/api/shipments", 201, {"orderId": order["id"]})
        await self.call(f"/api/shipments/{shipment['id']}/ship", 200, {"carrier": "Bench"})
        self.shipped.append(order["id"])


@dataclass
class Attackers:
    anonymous: aiohttp.ClientSession
    variants: list[UUID]
    victim: Json  # the order of the pay flood
    oversized: int  # bytes: one more than the API takes
    answers: Counter[str] = field(default_factory=Counter)

    async def attempt(self, attacker: int, n: int) -> None:
        headers = _forwarded(200, attacker)
        line = {"productVariantId": str(self.variants[attacker % len(self.variants)])}
        hoard = {"customerName": "Hoarder", "customerEmail": f"hoarder-{attacker % 5}@bench.example"}
        victim = self.victim
        request: dict[str, Any] = {"method": "POST", "url": "/api/orders", "headers": headers}
        match (attacker + n) % 8:
            case 0:  # a line of 95 units
                request["json"] = {**hoard, "items": [{**line, "quantity": 95}]}
            case 1:  # order after order under a few emails
                request["json"] = {**hoard, "items": [{**line, "quantity": 10}]}
            case 2:  # a pay flood on one order: at first, a quarter of the attackers at once
                request.update(url="/api/payments", json={"orderId": victim["id"], "provider": "Manual",
                               "amountMinor": victim["totalAmountMinor"], "currency": victim["currency"]})  # fmt: skip
            case 3:
                request["url"] = f"/api/orders/{uuid.uuid4()}/{('cancel', 'pay', 'ship')[n % 3]}"
            case 4:
                request.update(data=b'{"items": [', headers={**headers, "Content-Type": "application/json"})
            case 5:
                request.update(data=b" " * self.oversized, headers={**headers, "Content-Type": "application/json"})
            case 6:
                bearer = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
                request.update(method="GET", headers={**headers, **bearer})
            case _:
                async with self.anonymous.get("/ops/login", headers=headers) as page:
                    form = CSRF.search(await page.text())
                    cookies = {name: morsel.value for name, morsel in page.cookies.items()}
                token = secrets.token_urlsafe(32)
                request.update(
                    url="/ops/login", cookies=cookies, data={"token": token, "csrf": form[1] if form else ""}
                )
        async with self.anonymous.request(**request) as response:
            self.answers[str(response.status)] += 1

    async def run(self, attacker: int, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            try:
                async with asyncio.timeout(OP_TIMEOUT):
                    await self.attempt(attacker, n)
            except (aiohttp.ClientError, TimeoutError) as error:
                self.answers[type(error).__name__] += 1
            n += 1
            await asyncio.sleep(ATTACK_PAUSE_S)


async def hostile_load(stack: Stack, operator: aiohttp.ClientSession, variants: list[UUID], attackers: int,
                       lifecycles: int, say: Say, deadline: float = DEADLINE_S) -> Abuse:  # fmt: skip
    count = SHOPPERS * lifecycles
    connector = aiohttp.TCPConnector(limit=attackers + SHOPPERS, keepalive_timeout=KEEPALIVE)
    jar = aiohttp.DummyCookieJar()  # an attacker's login form goes with its own cookie, not another's
    async with aiohttp.ClientSession(stack.procs.base_url, connector=connector, cookie_jar=jar) as anonymous:
        alone, attacked = (Honest(anonymous, operator, variants, network) for network in (1, 2))
        say(f"hostile load: {SHOPPERS} honest shoppers, {count} lifecycles, without attackers, then among {attackers}")
        quiet = await drive(alone.lifecycle, count=count, concurrency=SHOPPERS, deadline=deadline)
        victim = await Honest(anonymous, operator, variants, 3).place(0, "victim@bench.example")
        crowd, stop = Attackers(anonymous, variants, victim, stack.settings.max_request_bytes + 1), asyncio.Event()
        attacks = asyncio.gather(*(crowd.run(attacker, stop) for attacker in range(attackers)))
        try:
            loud = await drive(attacked.lifecycle, count=count, concurrency=SHOPPERS, deadline=deadline)
        finally:
            stop.set()
            await attacks
    shipped = dict.fromkeys((UUID(order) for order in alone.shipped + attacked.shipped), "Shipped")
    checked = await invariants(stack, Expectations(statuses=shipped))
    off, on = (Measurement.of(sample, kind=Kind.LIFECYCLE, subject=Subject.PROJECT, concurrency=SHOPPERS,
                              requested=count) for sample in (quiet, loud))  # fmt: skip
    ratio = round(on.p95_ms / off.p95_ms, 2) if on.p95_ms and off.p95_ms else None
    server_errors = alone.server_errors + attacked.server_errors
    met = on.ok == off.ok == count and not server_errors and checked.ok and ratio is not None and ratio <= MAX_P95_RATIO
    answers = dict(sorted(crowd.answers.items()))
    return Abuse(shoppers=SHOPPERS, attackers=attackers, alone=off, attacked=on, honest_5xx=server_errors,
                 attacker_answers=answers, invariants=checked, p95_ratio=ratio, met=met)  # fmt: skip
