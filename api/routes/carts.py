"""Routes of the carts resource."""

from fastapi import APIRouter

router = APIRouter(tags=["carts"])
