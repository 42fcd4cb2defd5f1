"""``/staff/template``: the PIN reminder email, its editor and a preview for a chosen member.

Roles follow the API (web/api/templates.py): every role reads the template; an
operator previews it for a member (the preview holds that member's PIN, so
readonly may not); an admin saves or resets it. The edit form carries the
template it started from (``expected_*``): a save after someone else's is
refused as a conflict (TemplateConflict), nothing overwritten. Placeholder
problems are listed next to the part they are about. The preview is a form
post (works without JavaScript); static/template-preview.js refreshes it as
the admin types.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from radius_server.admin.templates import Preview
from radius_server.mail.template import PLACEHOLDERS, SUBJECT_MAX, Template, TemplateError
from radius_server.rules.roles import Role
from radius_server.store.errors import StoreError
from radius_server.store.templates import TemplateConflict
from radius_server.web.pages.nav import SECTIONS, Section
from radius_server.web.pages.rendering import render
from radius_server.web.pages.staff_auth import StaffUser, staff_form, staff_page

PATH = "/staff/template"
PREVIEW_PATH = f"{PATH}/preview"
RESET_PATH = f"{PATH}/reset"
# Audited as how the change was made (store/templates.py ``via``).
VIA = "web"
router = APIRouter(include_in_schema=False)
SECTIONS.append(
    Section(
        PATH,
        "Reminder email",
        Role.READONLY,
        "The PIN reminder's wording; admins edit it, operators preview it.",
    )
)

# Same caps as the API's (web/api/templates.py).
_Subject = Annotated[str, Form(max_length=SUBJECT_MAX + 100)]
_Text = Annotated[str, Form(max_length=100_000)]
_Html = Annotated[str, Form(max_length=200_000)]
_Email = Annotated[str, Form(max_length=254)]
# How mail.template names the parts in its problems -> the form's field names.
_PART_FIELDS = (("subject", "subject"), ("plain-text body", "text"), ("HTML body", "html"))


def field_errors(exc: TemplateError) -> dict[str, list[str]]:
    """Each problem under the field it is about (``form`` when it names none)."""
    errors: dict[str, list[str]] = {}
    for problem in exc.problems:
        field = next((f for label, f in _PART_FIELDS if problem.startswith(label)), "form")
        errors.setdefault(field, []).append(problem)
    return errors


def _form_template(subject: str, text: str, html: str) -> Template:
    # Browsers send textarea line breaks as CRLF (HTML: "normalize newlines"); store LF.
    return Template(
        subject=subject.strip(),
        text=text.replace("\r\n", "\n"),
        html=html.replace("\r\n", "\n"),
    )


def _page(
    request: Request,
    user: StaffUser,
    *,
    template: Template | None = None,
    expected: Template | None = None,
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
    email: str = "",
    preview: Preview | None = None,
    preview_error: str = "",
    status_code: int = 200,
) -> Response:
    stored = user.admin.templates.get()
    context: dict[str, Any] = {
        "title": "Reminder email",
        "template": template or stored.template,
        "expected": expected or stored.template,
        "stored": stored,
        "errors": errors or {},
        "notice": notice,
        "email": email,
        "preview": preview,
        "preview_error": preview_error,
        "placeholders": PLACEHOLDERS,
        "can_edit": user.role.allows(Role.ADMIN),
        "can_preview": user.sees_pins,
    }
    return render(request, "staff/template.html", context, user=user, status_code=status_code)


@router.get(PATH)
def show_template(
    request: Request, user: Annotated[StaffUser, Depends(staff_page(Role.READONLY))]
) -> Response:
    """The template in use; editable for an admin."""
    notice = {
        "saved": "The template is saved.",
        "unchanged": "Nothing changed: the template is as it was.",
        "reset": "The template is back to the built-in default.",
        "default": "The built-in default was already in use.",
    }.get(request.query_params.get("done", ""), "")
    return _page(request, user, notice=notice)


@router.post(PATH)
def save_template(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_form(Role.ADMIN))],
    subject: _Subject = "",
    text: _Text = "",
    html: _Html = "",
    expected_subject: _Subject = "",
    expected_text: _Text = "",
    expected_html: _Html = "",
    email: _Email = "",
) -> Response:
    """Save the edit unless it is invalid or someone saved meanwhile (then the form again)."""
    template = _form_template(subject, text, html)
    expected = _form_template(expected_subject, expected_text, expected_html)
    # A stored template is never empty (validate): no expected fields means none was sent.
    given = expected if expected != Template("", "", "") else None
    try:
        parts = user.admin.templates.save(template, via=VIA, expected=given)
    except TemplateError as exc:
        return _page(
            request,
            user,
            template=template,
            expected=expected,
            errors=field_errors(exc),
            email=email,
            status_code=422,
        )
    except TemplateConflict:
        current = user.admin.templates.get()
        who = f" by {current.updated_by}" if current.updated_by else ""
        # The next save starts from what is saved now: saving again overwrites it, knowingly.
        return _page(
            request,
            user,
            template=template,
            expected=current.template,
            errors={
                "form": [
                    f"Someone else saved the template{who} while you were editing it; "
                    "nothing was saved. Their version is shown below yours. "
                    "Save again to replace it with yours."
                ]
            },
            email=email,
            status_code=409,
        )
    return RedirectResponse(f"{PATH}?done={'saved' if parts else 'unchanged'}", status_code=303)


@router.post(PREVIEW_PATH)
def preview_template(
    request: Request,
    user: Annotated[StaffUser, Depends(staff_form(Role.OPERATOR))],
    subject: _Subject = "",
    text: _Text = "",
    html: _Html = "",
    expected_subject: _Subject = "",
    expected_text: _Text = "",
    expected_html: _Html = "",
    email: _Email = "",
) -> Response:
    """The form again with the message ``email`` would get from the template as typed.

    An operator cannot edit: their preview is of the template in use, whatever
    the form says.
    """
    can_edit = user.role.allows(Role.ADMIN)
    template = _form_template(subject, text, html) if can_edit else None
    expected = _form_template(expected_subject, expected_text, expected_html) if can_edit else None
    errors: dict[str, list[str]] = {}
    preview = None
    preview_error = ""
    if not email.strip():
        preview_error = "Give the email of a member to preview the message they would get."
    else:
        try:
            preview = user.admin.templates.preview(email.strip(), template)
        except TemplateError as exc:
            errors = field_errors(exc)
            preview_error = "Fix the problems above to see the preview."
        except StoreError as exc:
            # NotFound or a malformed email: the message names the email, never a PIN.
            preview_error = str(exc)
    return _page(
        request,
        user,
        template=template,
        expected=expected,
        errors=errors,
        email=email.strip(),
        preview=preview,
        preview_error=preview_error,
        status_code=200 if preview is not None else 422,
    )


@router.post(RESET_PATH)
def reset_template(
    user: Annotated[StaffUser, Depends(staff_form(Role.ADMIN))],
) -> Response:
    """Go back to the built-in default."""
    reset = user.admin.templates.reset(via=VIA)
    return RedirectResponse(f"{PATH}?done={'reset' if reset else 'default'}", status_code=303)
