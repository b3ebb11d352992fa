"""The payment context."""
