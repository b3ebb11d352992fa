"""Routes of the inventory resource."""

from fastapi import APIRouter

router = APIRouter(tags=["inventory"])
