"""The REST surface: one router per resource, dependency aliases in `deps`, one error body shape."""
