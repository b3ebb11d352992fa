"""With tracing on, one trace runs from the HTTP request through the order workflow into its activities."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from stack import temporal
from stack.observability import tracing_interceptors
from stack.settings import Settings
from tests.conftest import open_api
from tests.demo import ARM_BLK
from tests.http import place
from worker import create_worker


async def test_an_order_request_is_one_trace_down_to_the_activities(
    order_settings: Settings, dev_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the process's provider; ours is kept (no OTLP exporter is installed)
    settings = order_settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:1"})

    client = await temporal.connect(settings, interceptors=tracing_interceptors(settings, "test-worker"))
    async with create_worker(client, settings, sessionmaker):
        async for api in open_api(settings):
            await place(api, (ARM_BLK, 1))

    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /api/orders")
    in_trace = {s.name for s in spans if s.context is not None and s.context.trace_id == request.context.trace_id}  # type: ignore[union-attr]
    assert any(name.startswith("RunWorkflow:OrderWorkflow") for name in in_trace), in_trace
    assert "RunActivity:inventory.allocate" in in_trace, in_trace
    assert "RunActivity:ordering.record_order" in in_trace, in_trace
