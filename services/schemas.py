"""Wire conventions shared by every context's DTOs; defined in `contracts.wire` so workflows can use them."""

from contracts.wire import ZERO_UUID, UtcDateTime, WireModel, utcnow

__all__ = ["ZERO_UUID", "UtcDateTime", "WireModel", "utcnow"]
