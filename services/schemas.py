"""Wire conventions shared by every context's DTOs; defined in `contracts.wire` so workflows can use them."""

from contracts.wire import ZERO_UUID, RequestModel, UtcDateTime, WireModel, utcnow

__all__ = ["ZERO_UUID", "RequestModel", "UtcDateTime", "WireModel", "utcnow"]
