"""The cart store against a real PostgreSQL: merging, replacing, removing, clearing, the line cap, concurrent adds."""

import asyncio
from uuid import UUID, uuid4

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.order import MAX_ORDER_LINES
from services.cart.errors import (
    CartItemNotFoundError,
    CartItemsTooManyError,
    CartNotFoundError,
    ProductVariantIdRequiredError,
    QuantityInvalidError,
)
from services.cart.models import CartItem
from services.cart.schemas import AddCartItemRequest, CartDto, UpdateCartItemRequest
from services.cart.store import CartStore
from services.schemas import ZERO_UUID, utcnow
from services.validation import INT32_MAX

Sessions = async_sessionmaker[AsyncSession]


async def _create(sessionmaker: Sessions) -> CartDto:
    async with sessionmaker.begin() as session:
        return await CartStore(session).create()


async def _add(sessionmaker: Sessions, cart_id: UUID, variant: UUID, quantity: int) -> CartDto:
    async with sessionmaker.begin() as session:
        return await CartStore(session).add_item(
            cart_id, AddCartItemRequest(product_variant_id=variant, quantity=quantity)
        )


async def _get(sessionmaker: Sessions, cart_id: UUID) -> CartDto | None:
    async with sessionmaker() as session:
        return await CartStore(session).get(cart_id)


async def test_a_new_cart_is_empty_and_can_be_read_back(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    assert cart.items == []
    assert cart.created_at == cart.updated_at
    assert await _get(sessionmaker, cart.id) == cart


async def test_get_of_an_unknown_cart_is_none(sessionmaker: Sessions) -> None:
    assert await _get(sessionmaker, uuid4()) is None


async def test_adding_the_same_variant_merges_into_one_line(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    variant = uuid4()
    first = await _add(sessionmaker, cart.id, variant, 2)
    second = await _add(sessionmaker, cart.id, variant, 3)

    assert [(i.product_variant_id, i.quantity) for i in second.items] == [(variant, 5)]
    assert second.items[0].id == first.items[0].id
    assert second.items[0].created_at == first.items[0].created_at
    assert second.items[0].updated_at > first.items[0].updated_at
    assert second.updated_at > first.updated_at > cart.updated_at
    assert second.created_at == cart.created_at


async def test_lines_are_ordered_oldest_first(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    variants = [uuid4() for _ in range(4)]
    for variant in variants:
        await _add(sessionmaker, cart.id, variant, 1)
    await _add(sessionmaker, cart.id, variants[0], 1)  # merging does not move the line

    got = await _get(sessionmaker, cart.id)
    assert got is not None
    assert [i.product_variant_id for i in got.items] == variants


async def test_update_replaces_the_quantity_and_bumps_both_timestamps(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    variant = uuid4()
    added = await _add(sessionmaker, cart.id, variant, 2)
    async with sessionmaker.begin() as session:
        updated = await CartStore(session).update_item(cart.id, variant, UpdateCartItemRequest(quantity=7))

    assert [i.quantity for i in updated.items] == [7]
    assert updated.items[0].updated_at > added.items[0].updated_at
    assert updated.updated_at > added.updated_at


async def test_remove_deletes_one_line_and_clear_deletes_all(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    keep, drop = uuid4(), uuid4()
    await _add(sessionmaker, cart.id, keep, 1)
    await _add(sessionmaker, cart.id, drop, 1)
    async with sessionmaker.begin() as session:
        removed = await CartStore(session).remove_item(cart.id, drop)
    assert [i.product_variant_id for i in removed.items] == [keep]

    async with sessionmaker.begin() as session:
        cleared = await CartStore(session).clear(cart.id)
    assert cleared.items == []
    assert cleared.updated_at > removed.updated_at
    assert await _get(sessionmaker, cart.id) == cleared

    async with sessionmaker.begin() as session:  # clearing an empty cart is fine and still a mutation
        again = await CartStore(session).clear(cart.id)
    assert again.items == [] and again.updated_at > cleared.updated_at


async def test_twenty_concurrent_adds_of_one_variant_lose_no_update(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    variant = uuid4()
    await asyncio.gather(*(_add(sessionmaker, cart.id, variant, 1) for _ in range(20)))

    got = await _get(sessionmaker, cart.id)
    assert got is not None
    assert [(i.product_variant_id, i.quantity) for i in got.items] == [(variant, 20)]


async def test_a_merge_beyond_int32_is_refused_and_leaves_the_line_unchanged(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    variant = uuid4()
    await _add(sessionmaker, cart.id, variant, INT32_MAX - 1)
    await _add(sessionmaker, cart.id, variant, 1)  # exactly the maximum is allowed
    with pytest.raises(QuantityInvalidError):
        await _add(sessionmaker, cart.id, variant, 1)

    got = await _get(sessionmaker, cart.id)
    assert got is not None
    assert [i.quantity for i in got.items] == [INT32_MAX]


async def test_a_failed_mutation_does_not_bump_the_cart(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    with pytest.raises(CartItemNotFoundError):
        async with sessionmaker.begin() as session:
            await CartStore(session).remove_item(cart.id, uuid4())
    assert await _get(sessionmaker, cart.id) == cart


@pytest.mark.parametrize(
    ("variant", "quantity", "error"),
    [
        (ZERO_UUID, 1, ProductVariantIdRequiredError),
        (ZERO_UUID, 0, ProductVariantIdRequiredError),
        (uuid4(), 0, QuantityInvalidError),
        (uuid4(), -1, QuantityInvalidError),
        (uuid4(), INT32_MAX + 1, QuantityInvalidError),
    ],
)
async def test_add_validates_the_request_before_looking_up_the_cart(
    sessionmaker: Sessions, variant: UUID, quantity: int, error: type[Exception]
) -> None:
    async with sessionmaker.begin() as session:
        with pytest.raises(error):
            await CartStore(session).add_item(
                uuid4(), AddCartItemRequest(product_variant_id=variant, quantity=quantity)
            )


async def test_every_mutation_of_an_unknown_cart_is_cart_not_found(sessionmaker: Sessions) -> None:
    unknown, variant = uuid4(), uuid4()
    async with sessionmaker.begin() as session:
        store = CartStore(session)
        with pytest.raises(CartNotFoundError):
            await store.add_item(unknown, AddCartItemRequest(product_variant_id=variant, quantity=1))
        with pytest.raises(CartNotFoundError):
            await store.update_item(unknown, variant, UpdateCartItemRequest(quantity=1))
        with pytest.raises(CartNotFoundError):
            await store.remove_item(unknown, variant)
        with pytest.raises(CartNotFoundError):
            await store.clear(unknown)


async def _fill(sessionmaker: Sessions, cart_id: UUID, lines: int) -> None:
    """`lines` lines of distinct variants, written in one statement."""
    now = utcnow()
    rows = [
        {"id": uuid4(), "cart_id": cart_id, "product_variant_id": uuid4(), "quantity": 1,
         "created_at": now, "updated_at": now}
        for _ in range(lines)
    ]  # fmt: skip
    async with sessionmaker.begin() as session:
        await session.execute(insert(CartItem), rows)


async def test_a_cart_holds_at_most_as_many_lines_as_an_order(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    await _fill(sessionmaker, cart.id, MAX_ORDER_LINES - 1)
    full = await _add(sessionmaker, cart.id, uuid4(), 1)
    assert len(full.items) == MAX_ORDER_LINES

    with pytest.raises(CartItemsTooManyError) as refused:
        await _add(sessionmaker, cart.id, uuid4(), 1)
    assert refused.value.code == "cart_items_too_many"
    merged = await _add(sessionmaker, cart.id, full.items[0].product_variant_id, 2)  # an existing line still grows
    assert len(merged.items) == MAX_ORDER_LINES and merged.items[0].quantity == 3


async def test_concurrent_adds_to_a_nearly_full_cart_add_exactly_one_line(sessionmaker: Sessions) -> None:
    cart = await _create(sessionmaker)
    await _fill(sessionmaker, cart.id, MAX_ORDER_LINES - 1)

    results = await asyncio.gather(
        *(_add(sessionmaker, cart.id, uuid4(), 1) for _ in range(10)), return_exceptions=True
    )

    assert sum(isinstance(result, CartDto) for result in results) == 1
    assert all(isinstance(result, CartDto | CartItemsTooManyError) for result in results), results
    got = await _get(sessionmaker, cart.id)
    assert got is not None and len(got.items) == MAX_ORDER_LINES
