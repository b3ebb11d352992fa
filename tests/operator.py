"""The operator token of every API the tests start, and the header that presents it."""

OPERATOR_TOKEN = "test-operator-token"
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
