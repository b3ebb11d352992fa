"""Runtime plumbing shared by the API, the worker, `make run` and the tests.

Nothing here connects at import time: every function takes its settings and returns the thing it built.
"""
