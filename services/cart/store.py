"""The cart context's store: anonymous carts holding (variant id, quantity) lines.

Every mutation first bumps the cart's `updated_at` with an UPDATE, which both proves the cart exists and
row-locks it: mutations of one cart run one after another, always locking the cart before its lines.
"""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.order import MAX_ORDER_LINES
from services.cart.errors import (
    CartItemNotFoundError,
    CartItemsTooManyError,
    CartNotFoundError,
    ProductVariantIdRequiredError,
    QuantityInvalidError,
)
from services.cart.models import Cart, CartItem
from services.cart.schemas import AddCartItemRequest, CartDto, CartItemDto, UpdateCartItemRequest
from services.schemas import ZERO_UUID, utcnow
from services.validation import INT32_MAX, NO_CAPS, Caps, TooManyUnitsError, check_units_per_line


def _require_variant(product_variant_id: UUID) -> UUID:
    if product_variant_id == ZERO_UUID:
        raise ProductVariantIdRequiredError()
    return product_variant_id


def _require_quantity(quantity: int) -> int:
    if quantity <= 0:
        raise QuantityInvalidError()
    if quantity > INT32_MAX:
        raise QuantityInvalidError(f"Quantity must not exceed {INT32_MAX}.")
    return quantity


class CartStore:
    """Reads and changes carts inside the caller's unit of work; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete at most `limit` carts last changed before `before`, their lines with them; how many.

        A cart being changed right now (its row locked) is skipped, and one changed since the batch chose it is
        kept: PostgreSQL checks `updated_at` again on the locked row.
        """
        old = select(Cart.id).where(Cart.updated_at < before).limit(limit).with_for_update(skip_locked=True)
        deleted = await self._session.execute(delete(Cart).where(Cart.id.in_(old)).returning(Cart.id))
        return len(deleted.all())

    async def create(self) -> CartDto:
        """Create an empty cart."""
        now = utcnow()
        cart = Cart(id=uuid4(), created_at=now, updated_at=now)
        self._session.add(cart)
        await self._session.flush()
        return CartDto(id=cart.id, created_at=cart.created_at, updated_at=cart.updated_at, items=[])

    async def get(self, cart_id: UUID) -> CartDto | None:
        """The cart with its lines (oldest line first), or None if there is no such cart."""
        row = (
            await self._session.execute(select(Cart.created_at, Cart.updated_at).where(Cart.id == cart_id))
        ).one_or_none()
        if row is None:
            return None
        return CartDto(
            id=cart_id, created_at=row.created_at, updated_at=row.updated_at, items=await self._items(cart_id)
        )

    async def add_item(self, cart_id: UUID, request: AddCartItemRequest, caps: Caps = NO_CAPS) -> CartDto:
        """Add `quantity` of a variant: a new line, or added to the variant's existing line.

        The merge is one `INSERT ... ON CONFLICT DO UPDATE`, so concurrent adds never lose an update. A merged
        quantity beyond int32 is refused as `quantity_invalid`; a new line beyond an order's `MAX_ORDER_LINES` (so
        that the cart can still be checked out) as `cart_items_too_many`; one beyond `caps.units_per_line`, merged or
        not, as `too_many_units`.
        """
        product_variant_id = _require_variant(request.product_variant_id)
        quantity = _require_quantity(request.quantity)
        check_units_per_line(quantity, caps)
        ceiling = min(caps.units_per_line or INT32_MAX, INT32_MAX)
        now = await self._touch(cart_id)
        # _touch has row-locked the cart: concurrent adds count its other lines one after another.
        others = await self._session.scalar(
            select(func.count())
            .select_from(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_variant_id != product_variant_id)
        )
        if (others or 0) >= MAX_ORDER_LINES:
            raise CartItemsTooManyError(MAX_ORDER_LINES)
        stmt = insert(CartItem).values(
            id=uuid4(),
            cart_id=cart_id,
            product_variant_id=product_variant_id,
            quantity=quantity,
            created_at=now,
            updated_at=now,
        )
        upsert = stmt.on_conflict_do_update(
            constraint="uq_cart_items_cart_variant",
            set_={
                "quantity": CartItem.quantity + stmt.excluded.quantity,
                "updated_at": stmt.excluded.updated_at,
            },
            # excluded.quantity > 0, so the right-hand side cannot overflow itself
            where=CartItem.quantity <= ceiling - stmt.excluded.quantity,
        ).returning(CartItem.id)
        if (await self._session.execute(upsert)).scalar_one_or_none() is None:
            if ceiling < INT32_MAX:
                raise TooManyUnitsError(ceiling)
            raise QuantityInvalidError(f"The line's quantity would exceed {INT32_MAX}.")
        return await self._load(cart_id)

    async def update_item(
        self, cart_id: UUID, product_variant_id: UUID, request: UpdateCartItemRequest, caps: Caps = NO_CAPS
    ) -> CartDto:
        """Replace the quantity of the variant's line (must be > 0; remove the line instead of setting 0)."""
        _require_variant(product_variant_id)
        quantity = _require_quantity(request.quantity)
        check_units_per_line(quantity, caps)
        now = await self._touch(cart_id)
        updated = await self._session.execute(
            update(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_variant_id == product_variant_id)
            .values(quantity=quantity, updated_at=now)
            .returning(CartItem.id)
            .execution_options(synchronize_session=False)
        )
        if updated.scalar_one_or_none() is None:
            raise CartItemNotFoundError(cart_id, product_variant_id)
        return await self._load(cart_id)

    async def remove_item(self, cart_id: UUID, product_variant_id: UUID) -> CartDto:
        """Delete the variant's line; the cart stays."""
        _require_variant(product_variant_id)
        await self._touch(cart_id)
        deleted = await self._session.execute(
            delete(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_variant_id == product_variant_id)
            .returning(CartItem.id)
            .execution_options(synchronize_session=False)
        )
        if deleted.scalar_one_or_none() is None:
            raise CartItemNotFoundError(cart_id, product_variant_id)
        return await self._load(cart_id)

    async def clear(self, cart_id: UUID) -> CartDto:
        """Delete every line; the cart stays."""
        await self._touch(cart_id)
        await self._session.execute(
            delete(CartItem).where(CartItem.cart_id == cart_id).execution_options(synchronize_session=False)
        )
        return await self._load(cart_id)

    async def remove_ordered(self, cart_id: UUID, lines: Sequence[tuple[UUID, int]]) -> CartDto:
        """Take the ordered (variant, quantity) lines out of the cart, and nothing else.

        A line added or raised since the order was placed keeps what the order did not take; a line whose
        quantity the order covers is deleted. The cart's row lock (`_touch`) orders this after concurrent edits.
        """
        now = await self._touch(cart_id)
        ordered = {variant: 0 for variant, _ in lines}
        for variant, quantity in lines:
            ordered[variant] += quantity
        for variant, quantity in ordered.items():
            mine = (CartItem.cart_id == cart_id, CartItem.product_variant_id == variant)
            await self._session.execute(
                delete(CartItem)
                .where(*mine, CartItem.quantity <= quantity)
                .execution_options(synchronize_session=False)
            )
            await self._session.execute(
                update(CartItem)
                .where(*mine, CartItem.quantity > quantity)
                .values(quantity=CartItem.quantity - quantity, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return await self._load(cart_id)

    async def _touch(self, cart_id: UUID) -> datetime:
        now = utcnow()
        touched = await self._session.execute(
            update(Cart)
            .where(Cart.id == cart_id)
            .values(updated_at=now)
            .returning(Cart.id)
            .execution_options(synchronize_session=False)
        )
        if touched.scalar_one_or_none() is None:
            raise CartNotFoundError(cart_id)
        return now

    async def _load(self, cart_id: UUID) -> CartDto:
        cart = await self.get(cart_id)
        if cart is None:  # pragma: no cover - _touch has locked the row in this transaction
            raise CartNotFoundError(cart_id)
        return cart

    async def _items(self, cart_id: UUID) -> list[CartItemDto]:
        rows = await self._session.execute(
            select(
                CartItem.id,
                CartItem.product_variant_id,
                CartItem.quantity,
                CartItem.created_at,
                CartItem.updated_at,
            )
            .where(CartItem.cart_id == cart_id)
            .order_by(CartItem.created_at, CartItem.id)
        )
        return [CartItemDto.model_validate(row) for row in rows]
