"""Routes of the shipments resource."""

from fastapi import APIRouter

router = APIRouter(tags=["shipments"])
