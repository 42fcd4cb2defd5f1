"""``/api/v1/sessions``: accounting sessions (who is on) and disconnecting them (RFC 5176).

A disconnect is a job a running server sends (admin/disconnects.py): the route
queues it and waits up to ``wait`` seconds for a server to complete it, answering
200 with the NAS's answers when one did, 202 with the queued job when none did yet
(it stays queued; ``GET /sessions/disconnects/{id}`` follows it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from radius_server.admin.disconnects import DEFAULT_WAIT_SECONDS, DisconnectResult, describe
from radius_server.admin.sessions import SessionQuery
from radius_server.store.disconnects import DisconnectJobRecord
from radius_server.store.journal import utcnow
from radius_server.web.api.pagination import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from radius_server.web.auth import Caller, operator, readonly
from radius_server.web.problems import INVALID_REQUEST, Problem

router = APIRouter(prefix="/sessions", tags=["sessions"])

# The longest an API caller may hold a request open waiting for a server.
MAX_WAIT_SECONDS = 30.0


class SessionOut(BaseModel):
    """One accounting session; ``duration`` to now while it is open."""

    id: int
    online: bool
    member_email: str | None
    customer_id: int | None
    user_name: str
    client_name: str = Field(description="the RADIUS client (NAS) it is on")
    nas_address: str
    nas_ip_address: str | None
    nas_identifier: str | None
    nas_port: int | None
    acct_session_id: str
    unique_key: str
    calling_station_id: str | None = Field(description="the device (MAC)")
    called_station_id: str | None
    framed_ip_address: str | None
    class_hex: str | None
    started_at: datetime
    updated_at: datetime
    stopped_at: datetime | None
    session_time: int
    input_octets: int
    output_octets: int
    input_packets: int
    output_packets: int
    terminate_cause: str | None
    close_reason: str | None = Field(
        description="why we closed it (stale, replaced...); null: Stop"
    )
    changed_at: datetime | None
    duration: int = Field(description="seconds from start to stop, or to now while open")


class SessionPage(BaseModel):
    """Sessions newest first, and the cursor of the next page (None: this was the last)."""

    items: list[SessionOut]
    next_cursor: str | None


class DisconnectJobOut(BaseModel):
    """A disconnect job; the counts are the NAS answers once a server completed it."""

    id: int
    member_email: str | None
    session_id: int | None
    reason: str = Field(description="admin, pin_changed, plan_changed, validity_ended...")
    requested_by: str
    created_at: datetime
    claimed_by: str | None = Field(description="the server instance that works it")
    claimed_at: datetime | None
    done_at: datetime | None
    result: str | None
    counts: dict[str, int] = Field(description="acked, nak, timeout, unsupported, error...")


class DisconnectOut(BaseModel):
    """How a disconnect went: ``completed`` by a server, and whether every NAS acknowledged."""

    completed: bool
    all_acked: bool
    job: DisconnectJobOut
    summary: str = Field(description="one line for people, as 'session disconnect' prints")


class DisconnectIn(BaseModel):
    """How long to wait for a running server to send the Disconnect-Requests."""

    wait: float = Field(default=DEFAULT_WAIT_SECONDS, ge=0, le=MAX_WAIT_SECONDS)


class MemberDisconnectIn(DisconnectIn):
    """Disconnect every open session of a member."""

    member: str = Field(max_length=254, description="the member's email")


def _job(job: DisconnectJobRecord) -> DisconnectJobOut:
    data: dict[str, Any] = job.to_dict()
    counts = job.counts()
    return DisconnectJobOut(**{k: v for k, v in data.items() if k not in counts}, counts=counts)


def _out(result: DisconnectResult, wait: float | None = None) -> DisconnectOut:
    return DisconnectOut(
        completed=result.completed,
        all_acked=result.all_acked,
        job=_job(result.job),
        summary=describe(result, wait),
    )


def _disconnect(caller: Caller, target: str, wait: float, response: Response) -> DisconnectOut:
    """Queue a disconnect of ``target`` and wait; 202 when no server completed it yet."""
    result = caller.admin.disconnects.disconnect(target, wait=wait)
    if not result.completed:
        response.status_code = 202
    return _out(result, wait)


def _cursor(key: str | None) -> tuple[datetime, int] | None:
    # "ID@STARTED_AT": the sort key of the last session of the previous page.
    if key is None:
        return None
    last_id, _, at = key.partition("@")
    try:
        return datetime.fromisoformat(at), int(last_id)
    except ValueError:
        raise Problem(INVALID_REQUEST, "not a cursor this API gave", field="cursor") from None


@router.get("", response_model=SessionPage)
def list_sessions(
    caller: Annotated[Caller, Depends(readonly)],
    online: Annotated[bool, Query(description="open sessions only")] = False,
    member: Annotated[str | None, Query(max_length=254, description="one member's")] = None,
    nas: Annotated[str | None, Query(max_length=64, description="on one RADIUS client")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> SessionPage:
    """Sessions, newest first (``radius-server session list``)."""
    found = caller.admin.accounting.list(
        SessionQuery(
            online=online,
            member_email=member,
            client_name=nas,
            limit=limit,
            before=_cursor(decode_cursor(cursor)),
        )
    )
    items = [SessionOut(**r.to_dict(found.at)) for r in found.sessions]
    last = found.sessions[-1] if found.sessions else None
    return SessionPage(
        items=items,
        next_cursor=encode_cursor(f"{last.id}@{last.started_at.isoformat()}")
        if found.more and last
        else None,
    )


@router.get("/disconnects/{job_id}", response_model=DisconnectOut)
def show_disconnect(job_id: int, caller: Annotated[Caller, Depends(readonly)]) -> DisconnectOut:
    """A disconnect job as it is now."""
    job = caller.admin.disconnects.job(job_id)
    return _out(DisconnectResult(job, completed=job.done))


@router.get("/{session_id}", response_model=SessionOut)
def show_session(session_id: int, caller: Annotated[Caller, Depends(readonly)]) -> SessionOut:
    """One session in full."""
    return SessionOut(**caller.admin.accounting.get(session_id).to_dict(utcnow()))


@router.post(
    "/disconnect",
    response_model=DisconnectOut,
    responses={202: {"model": DisconnectOut, "description": "queued; no server completed it yet"}},
)
def disconnect_member(
    body: MemberDisconnectIn, caller: Annotated[Caller, Depends(operator)], response: Response
) -> DisconnectOut:
    """End every open session of a member with Disconnect-Requests."""
    if "@" not in body.member:
        # The admin layer takes digits as a session id: a member is named by email here.
        raise Problem(INVALID_REQUEST, "member: an email address", field="member")
    return _disconnect(caller, body.member, body.wait, response)


@router.post(
    "/{session_id}/disconnect",
    response_model=DisconnectOut,
    responses={202: {"model": DisconnectOut, "description": "queued; no server completed it yet"}},
)
def disconnect_session(
    session_id: int,
    caller: Annotated[Caller, Depends(operator)],
    response: Response,
    body: DisconnectIn | None = None,
) -> DisconnectOut:
    """End one session with a Disconnect-Request."""
    wait = body.wait if body is not None else DEFAULT_WAIT_SECONDS
    return _disconnect(caller, str(session_id), wait, response)
