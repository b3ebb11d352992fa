"""Bounded contexts. Each subpackage owns its tables (in its own PostgreSQL schema), DTOs, store and errors.

A context refers to another only by id: no imports of another context's models, no cross-schema foreign keys.
"""
