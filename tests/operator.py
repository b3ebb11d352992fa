"""The operator token of every API the tests start, and the header that presents it."""

OPERATOR_TOKEN = "test-operator-token-of-32-characters-at-least"
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
