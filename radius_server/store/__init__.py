"""Persistence: typed models, engine set-up and repositories.

Only plain values (dataclasses in ``records``) leave this package.
"""
