"""What Temporal Web lists of an order besides its (encrypted) payloads: typed search attributes and the run's
one-line summary. Neither holds personal data: Temporal indexes search attributes in the clear (the payload codec
does not apply to them), and a summary is for listing runs, not for reading an order.

Example filter: `OrderStatus = "PendingPayment" AND CustomerRef = "<customer_ref(settings, email)>"`
(`api/customers.py` computes the reference and the query).
"""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
# a keyed hash of the customer's normalised email, never the email itself
CUSTOMER_REF = SearchAttributeKey.for_keyword("CustomerRef")
ORDER_TOTAL_MINOR = SearchAttributeKey.for_int("OrderTotalMinor")

ALL_KEYS: list[SearchAttributeKey] = [ORDER_STATUS, CUSTOMER_REF, ORDER_TOTAL_MINOR]

SUMMARY_LIMIT_BYTES = 400  # Temporal refuses a longer run summary


def run_summary(lines: int, status: str | None = None, total_minor: int | None = None, currency: str = "") -> str:
    """`PendingPayment · 138.00 USD · 2 line(s)`: status, total and line count, nothing about the customer."""
    parts = [status or "Order"]
    if total_minor is not None:
        parts.append(f"{total_minor // 100}.{total_minor % 100:02d} {currency}".rstrip())
    parts.append(f"{lines} line(s)")
    return " · ".join(parts)
