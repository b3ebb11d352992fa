"""The errors a store raises when the domain refuses a command, and the refusals several contexts share.

`code` is the wire error code (`{"error": code, "message": message}`); `status_code` is what the API answers.
"""

from sqlalchemy.exc import IntegrityError


class DomainError(Exception):
    """A refusal by the domain: the request is understood but not allowed (HTTP 400 by default)."""

    status_code: int = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class NotFoundError(DomainError):
    """The addressed resource does not exist: every such error is named `<Resource>NotFoundError`.

    A read of a single resource answers 404. A command that names an unknown resource answers what the seed
    answered: 404 in some contexts (cart, fulfillment), 400 in others (catalog, inventory, payment, ordering;
    contract section 1.6), where the error class sets `status_code = 400`. `read=True` is the 404 of a read.
    """

    status_code = 404

    def __init__(self, code: str, message: str, *, read: bool = False) -> None:
        super().__init__(code, message)
        if read:
            self.status_code = 404


class OrderIdRequiredError(DomainError):
    """A payment or a shipment names no order (the zero id)."""

    def __init__(self) -> None:
        super().__init__("order_id_required", "Order id is required.")


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL says was violated, to turn a lost race into the domain's refusal."""
    # asyncpg's own exception, which names the constraint, is the cause of the DBAPI error.
    cause = exc.orig.__cause__ if exc.orig is not None else None
    name = getattr(cause, "constraint_name", None)
    return name if isinstance(name, str) else None


class IdempotencyKeyReusedError(DomainError):
    """An `Idempotency-Key` sent again with a different request: 422, and nothing about the first request."""

    status_code = 422

    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused", "This Idempotency-Key was already used for a different request; use a new key."
        )
