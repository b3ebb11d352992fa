"""Base classes of the errors a store raises when the domain refuses a command.

`code` is the wire error code (`{"error": code, "message": message}`); `status_code` is what the API answers.
"""


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
    """The addressed resource does not exist (HTTP 404)."""

    status_code = 404
