"""The use cases the API's routes and web pages adapt: place or check out an order, act on it, create and settle
its payments and shipments. Plain async functions over the order-workflow facade and the stores; they raise the
domain's errors (`services.errors.DomainError`), which each adapter shows its own way."""
