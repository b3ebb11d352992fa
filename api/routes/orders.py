"""Routes of the orders resource."""

from fastapi import APIRouter

router = APIRouter(tags=["orders"])
