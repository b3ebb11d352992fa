"""Routes of the catalog resource."""

from fastapi import APIRouter

router = APIRouter(tags=["catalog"])
