"""Stripe.js on the shop's pay page: where it is loaded from and what the page's CSP must allow for it, derived
from the provider's settings. Card data goes from the customer's browser to the provider, never to our server."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from api.web.pages import SECURITY_HEADERS
from stack.settings import Settings

STRIPE_JS = "https://js.stripe.com/v3/"
STRIPE_API = "https://api.stripe.com"
LOCALSTRIPE_PUBLISHABLE_KEY = "pk_test_localstripe"  # localstripe accepts any `pk_...` key


@dataclass(frozen=True)
class StripeJs:
    script_url: str
    publishable_key: str
    api_origin: str

    @property
    def script_origin(self) -> str:
        return _origin(self.script_url)

    def content_security_policy(self) -> str:
        """The pages' CSP, with exactly the provider's script origin added (and its API and frames, which
        Stripe.js talks to)."""
        csp = SECURITY_HEADERS["Content-Security-Policy"]
        csp = csp.replace("script-src 'self'", f"script-src 'self' {self.script_origin}")
        csp = csp.replace("connect-src 'self'", f"connect-src 'self' {self.api_origin}")
        return f"{csp}; frame-src {self.script_origin}"


def stripe_js(settings: Settings) -> StripeJs:
    """Stripe's own Stripe.js, or the stand-in a Stripe-compatible server (localstripe) serves at
    `<STRIPE_API_BASE>/js.stripe.com/v3/`."""
    base = settings.stripe_api_base.rstrip("/") if settings.stripe_api_base else None
    return StripeJs(
        script_url=f"{base}/js.stripe.com/v3/" if base else STRIPE_JS,
        publishable_key=settings.stripe_publishable_key or LOCALSTRIPE_PUBLISHABLE_KEY,
        api_origin=_origin(base) if base else STRIPE_API,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
