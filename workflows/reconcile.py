"""ReconcileWorkflow: converge every order with its provider when no webhook arrives.

Run by a Temporal Schedule every RECONCILE_INTERVAL_SECONDS: one activity re-reads the open PaymentIntents (and
voids those authorized for orders that are closed), then each authorized one's order workflow is told, as a
webhook would: the order's run re-reads the intent itself and decides. A run that finished meanwhile is skipped;
the next pass voids its authorization.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from contracts.activities import PaymentSteps
    from contracts.order import MarkPaid, ReconcileIntents
    from workflows.order import OrderWorkflow, workflow_id
    from workflows.steps import ACTIVITY_RETRY

RECONCILE_SCHEDULE_ID = "reconcile-payments"
RECONCILE_TIMEOUT = timedelta(minutes=2)  # a pass re-reads up to ReconcileIntents.limit intents


@workflow.defn(sandboxed=False)
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileIntents) -> int:
        """One pass; how many order workflows were told of an authorization."""
        hints = await workflow.execute_activity_method(
            PaymentSteps.reconcile, request, start_to_close_timeout=RECONCILE_TIMEOUT, retry_policy=ACTIVITY_RETRY
        )
        told = 0
        for hint in hints:
            order = workflow.get_external_workflow_handle_for(OrderWorkflow.run, workflow_id(hint.order_id))
            try:
                await order.signal(
                    OrderWorkflow.payment_succeeded, MarkPaid(payment_id=hint.payment_id, authorized=True)
                )
            except FailureError as error:  # the order's run has finished: the next pass voids its authorization
                workflow.logger.info("order %s not told: %s", hint.order_id, error)
                continue
            told += 1
        return told
