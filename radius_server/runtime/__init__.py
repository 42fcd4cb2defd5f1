"""The runtime: owns the threads, the sockets and the event loop.

It wires the pure layers (``protocol/``, ``eap/``, ``rules/``) to the network and
the store: the engine, UDP transport, change-feed sync, the guessing-protection
guard, the server and its supervisor (docs/architecture.md, Layers).
"""
