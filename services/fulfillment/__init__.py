"""The fulfillment context."""
