"""The demo catalog as the tests order from it: ids, SKUs and prices read from `services/catalog/demo.py`.

The API under test loads the same catalog (`seed_demo_data`), and `services/inventory/demo.py` receives
`DEMO_QUANTITY` units of each SKU, so a test that names a variant here can order it.
"""

from services.catalog.demo import MONITOR_ARM_VARIANT, PRODUCTS, DemoVariant

VARIANTS: list[DemoVariant] = [variant for product in PRODUCTS for variant in product.variants]


def variant(sku: str) -> DemoVariant:
    """The demo variant with this SKU."""
    return next(v for v in VARIANTS if v.sku == sku)


ARM_BLK = str(MONITOR_ARM_VARIANT)  # "Monitor Arm", SKU ARM-BLK, 6900 USD: the seed scripts' default variant
NOTE_A5 = str(variant("NOTE-A5").id)  # "Paperback Notebook", SKU NOTE-A5, 1200 USD
