"""Pieces several resources of the API share: small response models and headers."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, Field


class Removed(BaseModel):
    """What a DELETE removed."""

    removed: str = Field(description="the name (or email) of what is gone")


def no_store(response: Response) -> None:
    """Keep a response that carries a PIN, secret or token out of every cache (RFC 9111 5.2.2.5)."""
    response.headers["Cache-Control"] = "no-store"
