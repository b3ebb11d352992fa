"""What the benchmark and the tests share, and the runtime never ships: the invariant checkers and the launcher of
the whole stack as separate processes. Not a package of the install (pyproject.toml), not in the container image.
"""
