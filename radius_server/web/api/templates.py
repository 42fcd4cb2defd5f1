"""``/api/v1/templates/pin_reminder``: the PIN reminder email every admin shares.

Anyone reads it; an admin changes or resets it (validated before anything is
written: every problem is listed, each naming its part); an operator previews it
for a member, which shows that member's PIN, so readonly may not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from radius_server.mail.template import PLACEHOLDERS, SUBJECT_MAX, Template, TemplateError
from radius_server.store.templates import REMINDER, StoredTemplate, TemplateConflict
from radius_server.web.api.common import no_store
from radius_server.web.auth import Caller, admin_only, operator, readonly
from radius_server.web.problems import CONFLICT, INVALID_VALUE, Problem

router = APIRouter(prefix=f"/templates/{REMINDER}", tags=["templates"])

# Audited as how the change was made (store/templates.py ``via``).
VIA = "api"
# How mail.template names the parts in its problems -> the request's field names.
_PART_FIELDS = (("subject", "subject"), ("plain-text body", "text"), ("HTML body", "html"))


class TemplateBody(BaseModel):
    """A template: subject, plain-text body, optional HTML body (placeholders in braces)."""

    subject: str = Field(max_length=SUBJECT_MAX, description="one line; never {pin}")
    text: str = Field(max_length=100_000, description="must contain {pin}")
    html: str = Field(default="", max_length=200_000, description="optional; must contain {pin}")


class TemplateIn(TemplateBody):
    """A new template; ``expected``: the one the edit started from (409 if changed since)."""

    expected: TemplateBody | None = None


class TemplateOut(TemplateBody):
    """The template in use: ``saved`` by an admin, or the built-in ``default``."""

    source: Literal["saved", "default"]
    updated_at: datetime | None
    updated_by: str
    placeholders: dict[str, str] = Field(description="every placeholder and what it becomes")


class TemplateSaved(BaseModel):
    """Which parts a save changed ([] when identical), and the template now."""

    changed: list[str]
    template: TemplateOut


class TemplateReset(BaseModel):
    """Whether a reset changed anything (False: the default was in use), and the template now."""

    reset: bool
    template: TemplateOut


class PreviewOut(BaseModel):
    """The message a member would get. It holds their PIN."""

    sender: str
    recipient: str
    subject: str
    text: str
    html: str | None


def _out(stored: StoredTemplate) -> TemplateOut:
    t = stored.template
    return TemplateOut(
        subject=t.subject,
        text=t.text,
        html=t.html,
        source="default" if stored.is_default else "saved",
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        placeholders=PLACEHOLDERS,
    )


def _field(problem: str) -> str:
    for label, field in _PART_FIELDS:
        if problem.startswith(label):
            return field
    return "body"


def _errors(exc: TemplateError) -> Iterator[dict[str, str]]:
    for problem in exc.problems:
        yield {"field": _field(problem), "message": problem}


def _template(body: TemplateBody) -> Template:
    return Template(subject=body.subject, text=body.text, html=body.html)


@router.get("", response_model=TemplateOut)
def show_template(
    caller: Annotated[Caller, Depends(readonly)],
    default: Annotated[bool, Query(description="the built-in default instead")] = False,
) -> TemplateOut:
    """The template in use (or the built-in default)."""
    return _out(caller.admin.templates.get(default=default))


@router.put("", response_model=TemplateSaved)
def save_template(
    body: TemplateIn, caller: Annotated[Caller, Depends(admin_only)]
) -> TemplateSaved:
    """Replace the template; refused whole, with every problem named, when it is not usable."""
    templates = caller.admin.templates
    expected = _template(body.expected) if body.expected is not None else None
    try:
        parts = templates.save(_template(body), via=VIA, expected=expected)
    except TemplateError as exc:
        errors = list(_errors(exc))
        raise Problem(INVALID_VALUE, str(exc), field=errors[0]["field"], errors=errors) from None
    except TemplateConflict as exc:
        raise Problem(CONFLICT, str(exc), field="expected") from None
    return TemplateSaved(changed=parts, template=_out(templates.get()))


@router.delete("", response_model=TemplateReset)
def reset_template(caller: Annotated[Caller, Depends(admin_only)]) -> TemplateReset:
    """Go back to the built-in default."""
    templates = caller.admin.templates
    reset = templates.reset(via=VIA)
    return TemplateReset(reset=reset, template=_out(templates.get()))


@router.get("/preview", response_model=PreviewOut)
def preview_template(
    caller: Annotated[Caller, Depends(operator)],
    response: Response,
    email: Annotated[str, Query(max_length=254, description="the member")],
) -> PreviewOut:
    """The message ``email`` would get, PIN included (works before SMTP is configured)."""
    preview = caller.admin.templates.preview(email)
    no_store(response)
    r = preview.rendered
    return PreviewOut(
        sender=preview.sender,
        recipient=preview.recipient,
        subject=r.subject,
        text=r.text,
        html=r.html,
    )
