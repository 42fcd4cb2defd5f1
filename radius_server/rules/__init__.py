"""Pure rules: decisions, member policy, guessing-protection budgets, PINs, methods.

No sockets, no asyncio, no threads, no database, no structlog, no configuration:
the clock and every setting are passed in (docs/architecture.md, Layers;
enforced by tests/unit/test_pure_core_imports.py). Also the in-memory directory,
which ``runtime/sync.py`` fills from the store.
"""
