"""Domain refusals leave activities as non-retryable ApplicationErrors whose `type` is the contract error code.

Anything else (a dropped connection, a deadlock, PostgreSQL restarting) propagates as is, and Temporal retries
the activity.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from services.errors import DomainError


@contextmanager
def refusals_as_application_errors() -> Iterator[None]:
    try:
        yield
    except DomainError as error:
        raise ApplicationError(error.message, type=error.code, non_retryable=True) from error
