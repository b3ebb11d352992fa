"""Typed inputs and outputs of every workflow, activity, signal, update and query (pydantic v2)."""
