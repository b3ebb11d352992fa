"""localstripe, the embedded Stripe-compatible server, with its state where we say and on loopback only.

    python -m stack.localstripe --port P --state PATH     # make run: .data/localstripe.pickle
    python -m stack.localstripe --port P --from-scratch   # tests: in memory, nothing on disk

localstripe is GPL-3.0: it runs as its own process, started through this module, which is part of the embedded
tooling (like the dev servers of PostgreSQL and Temporal). The runtime (API, worker, services) never imports it;
it talks to it over HTTP as it would to Stripe.

The released localstripe keeps its state in a fixed `/tmp/localstripe.pickle` and listens on every interface; two
stacks on one machine would share (and overwrite) one state, and the fake would answer the network. So before
its server module is imported, its store is pointed at our file (written atomically: a kill mid-dump leaves the
previous state), and its app is served on 127.0.0.1.

Where localstripe differs from Stripe in what the order lifecycle relies on, the wrapper makes it behave as Stripe:
- `Idempotency-Key`: a POST repeated with the key of one that succeeded gets the first answer again and does
  nothing (localstripe ignores the header, so a retried create or refund would happen twice); a repeat while the
  first is still running is answered 409, as Stripe does. The answers are kept in the store, so across restarts;
- Stripe sends `payment_intent.amount_capturable_updated` when an intent with manual capture is authorized and
  `payment_intent.canceled` when one is voided; localstripe sends neither (only `succeeded` and
  `payment_failed`), and the lifecycle learns of an authorization from the first;
- Stripe captures only an authorized intent (`requires_capture`), else answers 400
  `payment_intent_unexpected_state`; localstripe captures a canceled one's charge, and fails with a 500 on one
  never authorized;
- Stripe.js confirms a card payment in the browser: `POST /v1/payment_intents/<id>/confirm` with the publishable
  key, the intent's client secret and the card (`payment_method_data`), again after a declined card or a failed
  3-D Secure challenge. localstripe's confirm takes no card and needs the secret key, and its Stripe.js stand-in's
  `confirmCardPayment` only answers the 3-D Secure challenge of an intent the server confirmed. The wrapper
  answers that confirm (`_confirm_in_the_browser`) and serves the stand-in with `confirmCardPayment` completed
  (stack/localstripe_confirm.js), so the shop's page is the one it would be with Stripe;
- Stripe declines 4000 0000 0000 0002 when it is charged (the "generic decline" card); localstripe declines it
  only when attached to a customer.

Where it sends its signed events: `--webhook-url` registers them at each start (`make run` and the launcher;
localstripe keeps registrations in memory only, so a restarted one would otherwise send nothing), and
`register_webhook` does it for one already running (`POST /_config/webhooks/<id>`, what tests use).
"""

import argparse
import asyncio
import logging
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Handler

HOST = "127.0.0.1"
DEFAULT_PORT = 8420
WEBHOOK_ID = "orderflow"
GENERIC_DECLINE_CARD = "4000000000000002"
IDEMPOTENCY_PREFIX = "idempotency:"  # no localstripe resource is named so: its listings never see these entries


def command(port: int, state: Path | None, *, webhook_url: str | None = None, access_log: bool = False) -> list[str]:
    """How to start one: its state in `state` (in memory only when None); with `webhook_url`, it sends its events
    there, signed with the secret in the environment's STRIPE_WEBHOOK_SECRET (not on the command line, where any
    local user could read it)."""
    args = [sys.executable, "-m", "stack.localstripe", "--port", str(port)]
    args += ["--state", str(state)] if state is not None else ["--from-scratch"]
    if webhook_url is not None:
        args += ["--webhook-url", webhook_url]
    if access_log:
        args.append("--access-log")
    return args


def base_url(port: int) -> str:
    return f"http://{HOST}:{port}"


async def wait_until_up(url: str, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Until the localstripe at `url` answers (its Stripe.js stand-in: no key needed); raises `TimeoutError`, or
    `RuntimeError` as soon as `alive()` says its process exited."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
        while True:
            if not alive():
                raise RuntimeError(f"localstripe at {url} exited before it answered")
            try:
                if (await http.get("/js.stripe.com/v3/")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"localstripe at {url} did not answer within {timeout:g}s")
            await asyncio.sleep(0.1)


async def register_webhook(
    base_url: str, *, url: str, secret: str, webhook_id: str = WEBHOOK_ID, timeout: float = 10.0
) -> None:
    """Have the localstripe at `base_url` sign every event with `secret` and POST it to `url` (replacing the
    registration under `webhook_id`, so registering again is harmless)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
        response = await http.post(f"/_config/webhooks/{webhook_id}", data={"url": url, "secret": secret})
        response.raise_for_status()


def _point_store_at(state: Path | None) -> None:
    """localstripe's store loads from and dumps to `state` (nothing at all when None)."""
    from localstripe.resources import Store  # noqa: PLC0415 - the GPL server, in its own process only

    def try_load_from_disk(self: Store) -> None:
        if state is None or not state.exists():
            return
        with open(state, "rb") as file:
            old = pickle.load(file)  # noqa: S301 - our own file, written by this process
        self.clear()
        self.update(old)

    def dump_to_disk(self: Store) -> None:
        if state is None:
            return
        fd, tmp = tempfile.mkstemp(dir=state.parent, prefix=state.name + ".")
        with os.fdopen(fd, "wb") as file:
            pickle.dump(dict(self), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, state)

    Store.try_load_from_disk = try_load_from_disk
    Store.dump_to_disk = dump_to_disk


def _decline_generic_card() -> None:
    from localstripe.resources import PaymentMethod  # noqa: PLC0415 - see the module docstring

    declined_before = PaymentMethod._charging_is_declined

    def charging_is_declined(self: PaymentMethod) -> bool:
        number = getattr(self, "_card_number", None)
        return bool(declined_before(self)) or (self.type == "card" and number == GENERIC_DECLINE_CARD)

    PaymentMethod._charging_is_declined = charging_is_declined  # Card's too


def _send_intent_events() -> None:
    from localstripe import resources  # noqa: PLC0415 - see the module docstring

    intent_class = resources.PaymentIntent
    create_charge = intent_class._create_charge

    def tell(intent: object, event: str) -> None:
        resources.schedule_webhook(resources.Event(f"payment_intent.{event}", intent))

    def create_charge_and_tell(self: resources.PaymentIntent, on_failure_now: object) -> None:
        create_charge(self, on_failure_now)  # raises on a declined card (localstripe sent `payment_failed`)
        if self.status == "requires_capture":
            tell(self, "amount_capturable_updated")

    # localstripe's cancel route sets `_canceled`; a property sees it (in the instance's dict, as pickled before)
    def canceled(self: resources.PaymentIntent) -> bool:
        return bool(self.__dict__.get("_canceled", False))

    def set_canceled(self: resources.PaymentIntent, value: bool) -> None:
        was = canceled(self)
        self.__dict__["_canceled"] = value
        if value and not was:
            tell(self, "canceled")

    intent_class._create_charge = create_charge_and_tell
    intent_class._canceled = property(canceled, set_canceled)


def _capture_only_authorized() -> None:
    from localstripe import resources  # noqa: PLC0415 - see the module docstring

    intent_class = resources.PaymentIntent
    capture = intent_class._api_capture

    def capture_if_authorized(id: str, amount_to_capture: object = None, **kwargs: object) -> object:
        status = intent_class._api_retrieve(id).status
        if status != "requires_capture":
            message = f"This PaymentIntent could not be captured because it has a status of {status}."
            raise resources.UserError(400, message, {"code": "payment_intent_unexpected_state"})
        return capture(id, amount_to_capture, **kwargs)

    # the server module binds its routes to these functions when it is imported, after this
    resources.extra_apis[:] = [
        (method, url, capture_if_authorized if function == capture else function)
        for method, url, function in resources.extra_apis
    ]


def _honour_idempotency_keys(app: "web.Application", store: dict[str, object]) -> None:
    from aiohttp import web  # noqa: PLC0415

    running: set[str] = set()

    @web.middleware
    async def idempotency(request: "web.Request", handler: "Handler") -> "web.StreamResponse":
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        slot = f"{IDEMPOTENCY_PREFIX}{request.path}:{key}"
        kept = store.get(slot)
        if isinstance(kept, tuple):
            status, body = kept
            return web.Response(status=status, body=body, content_type="application/json", charset="utf-8")
        if slot in running:
            return web.json_response(
                {"error": {"type": "idempotency_error", "message": "a request with this key is in progress"}},
                status=409,
            )
        running.add(slot)
        try:
            response = await handler(request)
            if 200 <= response.status < 300 and isinstance(response, web.Response) and response.body is not None:
                store[slot] = (response.status, bytes(response.body))  # type: ignore[arg-type]
            return response
        finally:
            running.discard(slot)

    app.middlewares.insert(0, idempotency)


def _confirm_in_the_browser(app: "web.Application", store: Any) -> None:
    from aiohttp import web  # noqa: PLC0415
    from localstripe import resources  # noqa: PLC0415 - see the module docstring
    from localstripe.server import get_post_data, json_response  # noqa: PLC0415

    confirm_path = re.compile(r"^/v1/payment_intents/(pi_\w+)/confirm$")
    stand_in = Path(resources.__file__).with_name("localstripe-v3.js")
    completed = Path(__file__).with_name("localstripe_confirm.js")

    def confirm(intent_id: str, data: Mapping[str, Any]) -> Any:
        intent = resources.PaymentIntent._api_retrieve(intent_id)
        if not str(data.get("key", "")).startswith("pk_") or data.get("client_secret") != intent.client_secret:
            raise resources.UserError(401, "Unauthorized")
        method = data.get("payment_method_data")
        if not isinstance(method, dict) or method.get("type") != "card" or not isinstance(method.get("card"), dict):
            raise resources.UserError(400, "Bad request", {"param": "payment_method_data"})
        if intent.status not in ("requires_payment_method", "requires_confirmation"):
            message = f"This PaymentIntent's status is {intent.status}: it cannot be confirmed."
            raise resources.UserError(400, message, {"code": "payment_intent_unexpected_state"})
        card = {key: method["card"].get(key) for key in ("number", "exp_month", "exp_year", "cvc")}
        intent.payment_method = resources.PaymentMethod(type="card", card=card).id
        if intent.latest_charge is not None and intent.latest_charge.status == "failed":
            intent.latest_charge = None  # a new attempt after a declined card, as Stripe allows
        intent._confirm(on_failure_now=intent._report_failure)
        return intent

    @web.middleware
    async def browser(request: "web.Request", handler: "Handler") -> "web.StreamResponse":
        if request.method == "GET" and request.path == "/js.stripe.com/v3/":
            script = stand_in.read_text() + "\n" + completed.read_text()
            return web.Response(text=script, content_type="application/javascript")
        found = confirm_path.match(request.path)
        if request.method != "POST" or found is None or request.headers.get("Authorization"):
            return await handler(request)  # the secret key's confirm: localstripe's own
        try:
            intent = confirm(found.group(1), await get_post_data(request, remove_auth=False) or {})
            answer: web.StreamResponse = json_response(intent._export())
        except resources.UserError as error:
            answer = error.to_response()
        finally:
            store.dump_to_disk()
        return answer

    app.middlewares.insert(0, browser)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stack.localstripe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--state", type=Path, help="file that keeps the server's state across restarts")
    where.add_argument("--from-scratch", action="store_true", help="keep the state in memory only")
    parser.add_argument(
        "--webhook-url",
        help="send every event here, signed with STRIPE_WEBHOOK_SECRET (registered at each start: localstripe "
        "keeps registrations in memory only)",
    )
    parser.add_argument("--access-log", action="store_true", help="print a line per request")
    args = parser.parse_args(argv)
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET")
    if args.webhook_url and not secret:
        parser.error("--webhook-url needs the signing secret in STRIPE_WEBHOOK_SECRET")

    state: Path | None = None if args.from_scratch else args.state.resolve()
    if state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
    _point_store_at(state)
    _decline_generic_card()
    _send_intent_events()
    _capture_only_authorized()

    from aiohttp import web  # noqa: PLC0415
    from localstripe.resources import store  # noqa: PLC0415
    from localstripe.server import app  # noqa: PLC0415
    from localstripe.webhooks import register_webhook as register  # noqa: PLC0415

    store.try_load_from_disk()
    _honour_idempotency_keys(app, store)
    _confirm_in_the_browser(app, store)
    if args.webhook_url and secret:
        register(WEBHOOK_ID, args.webhook_url, secret, None)
    # localstripe logs each webhook delivery on the access logger: shown with --access-log, warnings otherwise
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.INFO if args.access_log else logging.WARNING)
    access.addHandler(logging.StreamHandler(sys.stdout))
    hooks = f", events to {args.webhook_url}" if args.webhook_url else ""
    print(f"localstripe on {base_url(args.port)} (state: {state or 'in memory'}{hooks})", flush=True)
    web.run_app(app, host=HOST, port=args.port, access_log=access if args.access_log else None, print=None)


if __name__ == "__main__":
    main()
