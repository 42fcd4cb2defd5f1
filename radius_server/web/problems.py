"""Errors as RFC 9457 problem details (``application/problem+json``).

Each kind of error has a stable ``type`` (a URN, the same in every release) so a
client can branch on it without parsing the human text in ``detail``. Where one
field is at fault, ``field`` names it; request validation lists every fault in
``errors``. No PIN, secret or token ever appears in a problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from radius_server.config import ConfigError
from radius_server.logging import get_logger
from radius_server.rules.pins import PinError
from radius_server.rules.plans import PlanError
from radius_server.store.errors import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    PinTaken,
    SchemaNotReady,
    StoreError,
)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:radius-server:problem:"


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One documented kind of problem: its slug (the end of ``type``), status and title."""

    slug: str
    status: int
    title: str

    @property
    def type(self) -> str:
        """The problem's ``type`` URI."""
        return TYPE_PREFIX + self.slug


UNAUTHORIZED = ProblemKind("unauthorized", 401, "Authentication required")
FORBIDDEN = ProblemKind("forbidden", 403, "Your role may not do this")
TOO_MANY_ATTEMPTS = ProblemKind("too-many-attempts", 429, "Too many failed authentications")
NOT_FOUND = ProblemKind("not-found", 404, "Not found")
ALREADY_EXISTS = ProblemKind("already-exists", 409, "Already exists")
PIN_TAKEN = ProblemKind("pin-taken", 409, "The PIN belongs to another member")
CONFLICT = ProblemKind("conflict", 409, "Conflicting change")
INVALID_PIN = ProblemKind("invalid-pin", 422, "Not a valid PIN")
INVALID_VALUE = ProblemKind("invalid-value", 422, "A value is not valid")
INVALID_REQUEST = ProblemKind("invalid-request", 422, "The request is not valid")
REFUSED = ProblemKind("refused", 422, "The change was refused")
# A bulk change (CSV import, sync) with bad rows: ``errors`` lists each; nothing written.
INVALID_ROWS = ProblemKind("invalid-rows", 422, "Some rows are not valid; nothing was written")
METHOD_NOT_ALLOWED = ProblemKind("method-not-allowed", 405, "Method not allowed")
DATABASE_UNAVAILABLE = ProblemKind("database-unavailable", 503, "The database is unavailable")
INTERNAL = ProblemKind("internal-error", 500, "Internal error")

KINDS = (
    UNAUTHORIZED,
    FORBIDDEN,
    TOO_MANY_ATTEMPTS,
    NOT_FOUND,
    ALREADY_EXISTS,
    PIN_TAKEN,
    CONFLICT,
    INVALID_PIN,
    INVALID_VALUE,
    INVALID_REQUEST,
    REFUSED,
    INVALID_ROWS,
    METHOD_NOT_ALLOWED,
    DATABASE_UNAVAILABLE,
    INTERNAL,
)
_BY_STATUS = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 401: UNAUTHORIZED, 403: FORBIDDEN}


class Problem(Exception):
    """Raise in a route to answer with a problem of ``kind``."""

    def __init__(
        self,
        kind: ProblemKind,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    kind: ProblemKind,
    detail: str,
    request: Request | None = None,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The response for one problem."""
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=kind.status, media_type=MEDIA_TYPE, headers=headers)


def kind_of(exc: BaseException) -> ProblemKind:
    """The problem kind of an error the admin layer raises."""
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, PinTaken):
        return PIN_TAKEN
    if isinstance(exc, AlreadyExists):
        return ALREADY_EXISTS
    if isinstance(exc, PinError):
        return INVALID_PIN
    if isinstance(exc, InvalidValue | ConfigError | PlanError):
        return INVALID_VALUE
    if isinstance(exc, SchemaNotReady):
        return DATABASE_UNAVAILABLE
    return REFUSED


def field_of(exc: BaseException) -> str | None:
    """The field an error is about, when it says (``exc.field``) or its kind tells."""
    named = getattr(exc, "field", None)
    if isinstance(named, str):
        return named
    if isinstance(exc, PinTaken | PinError):
        return "pin"
    return None


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "pin") -> "pin"; ("query", "limit") -> "limit": the name a client sent.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json."""
    log = get_logger("web")

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.kind, exc.detail, request, field=exc.field, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(StoreError)
    @app.exception_handler(PinError)
    @app.exception_handler(ConfigError)
    @app.exception_handler(PlanError)
    async def _refused(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(kind_of(exc), str(exc), request, field=field_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # pydantic's "input" would echo what was sent (a PIN): only where and why.
        errors = [
            {"field": _location(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem_response(
            INVALID_REQUEST,
            f"{first['field']}: {first['message']}",
            request,
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _BY_STATUS.get(exc.status_code) or ProblemKind(
            "http-error", exc.status_code, "HTTP error"
        )
        return problem_response(kind, str(exc.detail), request, headers=exc.headers)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database_unavailable", error=type(exc.orig or exc).__name__)
        return problem_response(
            DATABASE_UNAVAILABLE,
            "the database did not answer; try again",
            request,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(IntegrityError)
    @app.exception_handler(DataError)
    async def _integrity(request: Request, exc: Exception) -> JSONResponse:
        # A race the checks before the write did not foresee; PostgreSQL's text may
        # quote the key (a PIN), so only the kind is told.
        kind = type(getattr(exc, "orig", None) or exc).__name__
        return problem_response(
            CONFLICT, f"the database refused the change ({kind}); nothing was written", request
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # The type only: a message may hold anything (str() of a record is safe, of a
        # driver error is not).
        log.error("request_failed", path=request.url.path, error=type(exc).__name__)
        return problem_response(INTERNAL, "the server failed to answer this request", request)
