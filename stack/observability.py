"""Logs, metrics and traces for the API and the worker, configured from Settings at start-up.

- Logs: one line per record, `text` for people or `json` for machines; records from workflows and activities
  carry their workflow id and the order id (the Temporal SDK attaches the workflow/activity info to each record).
- Metrics: the worker exports the Temporal SDK runtime metrics and the order workflow's own counters on a
  Prometheus endpoint; the API serves its HTTP metrics on its own `/metrics` (see api/metrics.py).
- Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans go over OTLP from the HTTP request through the workflow to
  its activities (Temporal's TracingInterceptor propagates the context); without it, tracing is off.
"""

import json
import logging
from typing import Any

from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from stack.settings import Settings

log = logging.getLogger(__name__)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """The ids a reader filters by: workflow id, order id, activity type, plus any `extra=` fields."""
    fields: dict[str, Any] = {}
    info = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None)
    if isinstance(info, dict):
        workflow_id = info.get("workflow_id")
        if workflow_id:
            fields["workflow_id"] = workflow_id
            if str(workflow_id).startswith("order-"):
                fields["order_id"] = str(workflow_id).removeprefix("order-")
        if "activity_type" in info:
            fields["activity"] = info["activity_type"]
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("temporal_") and key not in fields:
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # The SDK appends its info dict to the message; the ids below say the same thing, shorter.
        fields = " ".join(f"{key}={value}" for key, value in _context(record).items())
        return f"{super().format(record)} {fields}".rstrip()


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    # A no-op where logging is already configured (e.g. under pytest); uvicorn leaves the root logger to us.
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting Prometheus metrics on the worker's metrics port, or None (the default runtime)."""
    if not settings.worker_metrics_port:
        return None
    bind = f"{settings.api_host}:{settings.worker_metrics_port}"
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
    except ValueError as error:  # e.g. the port is taken by another worker on this machine
        # Serving orders matters more than exporting metrics: go on without them, loudly.
        log.warning("worker metrics are off: %s (set WORKER_METRICS_PORT to a free port)", error)
        return None


def tracing_interceptors(settings: Settings, service_name: str) -> list[Interceptor]:
    """Temporal client interceptors that carry trace context into workflows and activities, if tracing is on.

    Spans go to the process's tracer provider; one exporting over OTLP is installed unless the host already
    configured its own (e.g. `opentelemetry-instrument`).
    """
    if not settings.otel_exporter_otlp_endpoint:
        return []
    from opentelemetry import trace
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint)))
        trace.set_tracer_provider(provider)
    return [TracingInterceptor()]
