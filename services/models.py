"""Every context's metadata, for alembic. Importing this module registers all tables."""

from sqlalchemy import MetaData

from services.access import models as access
from services.cart import models as cart
from services.catalog import models as catalog
from services.fulfillment import models as fulfillment
from services.inventory import models as inventory
from services.ordering import models as ordering
from services.payment import models as payment

ALL_METADATA: list[MetaData] = [
    catalog.Base.metadata,
    inventory.Base.metadata,
    cart.Base.metadata,
    ordering.Base.metadata,
    payment.Base.metadata,
    fulfillment.Base.metadata,
    access.Base.metadata,
]
SCHEMAS: list[str] = [m.schema for m in ALL_METADATA if m.schema]
