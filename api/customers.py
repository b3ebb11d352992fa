"""Customer references: how a customer's order runs are found in Temporal without their email being stored there.

`CustomerRef` (a search attribute) is an HMAC-SHA256 of the normalised email under a key derived from
`APP_SECRET`: the API sets it when it starts an order's workflow, and whoever knows an email (an operator, the
console) computes the same reference to list that customer's runs. Without the secret the reference cannot be
reversed or matched against a list of guessed emails.
"""

import hashlib
import hmac
from collections.abc import AsyncIterator

from temporalio.client import Client, WorkflowExecution

from stack.secrets import derive_key
from stack.settings import Settings
from workflows.search_attributes import CUSTOMER_REF

PURPOSE = "customer-ref"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def customer_ref(settings: Settings, email: str) -> str:
    """The `CustomerRef` of whoever orders with `email` (64 hex characters)."""
    key = derive_key(settings, PURPOSE)
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def customer_runs_query(settings: Settings, email: str) -> str:
    """The visibility query for every order run of the customer with `email` (combine with `AND ...`)."""
    return f'{CUSTOMER_REF.name} = "{customer_ref(settings, email)}"'


def customer_runs(client: Client, settings: Settings, email: str) -> AsyncIterator[WorkflowExecution]:
    """Every order run of the customer with `email`, newest first, as Temporal's visibility store lists them."""
    return client.list_workflows(customer_runs_query(settings, email))
