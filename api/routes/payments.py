"""Routes of the payments resource."""

from fastapi import APIRouter

router = APIRouter(tags=["payments"])
