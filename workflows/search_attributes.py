"""Typed custom search attributes, so operators can filter orders in Temporal Web.

Example: `OrderStatus = "PendingPayment" AND CustomerEmail = "ada@example.com"`.
"""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_EMAIL = SearchAttributeKey.for_keyword("CustomerEmail")
ORDER_TOTAL_MINOR = SearchAttributeKey.for_int("OrderTotalMinor")

ALL_KEYS: list[SearchAttributeKey] = [ORDER_STATUS, CUSTOMER_EMAIL, ORDER_TOTAL_MINOR]
