"""Templates and static files of the web pages, and the one way a page is rendered.

Templates live in ``radius_server/web/templates/`` and ship in the wheel;
Jinja2 escapes every value in ``.html`` templates. :func:`render` gives every
template the same context: ``user`` (the signed-in staff member or None),
``csrf_token`` (for ``ui.csrf_field()``), ``nav`` (the sections the user's role
may open) and ``space_name``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from radius_server.web.pages.csrf import anonymous_token, set_anonymous_cookie
from radius_server.web.pages.nav import sections_for

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    user: Any = None,
    member: Any = None,
) -> HTMLResponse:
    """The template ``name`` as an HTML response; ``user``: a StaffUser (signed in) or None.

    ``member``: a signed-in member (members' page, web/pages/member_auth.py) instead.

    Anonymous pages get a CSRF token from a cookie (double submit, see csrf.py),
    set here when the browser has none yet.
    """
    values: dict[str, Any] = dict(context or {})
    new_cookie: str | None = None
    if user is not None:
        token = user.csrf_token
    elif member is not None:
        token = member.csrf_token
    else:
        token, new_cookie = anonymous_token(request)
    values.setdefault("user", user)
    values.setdefault("member", member)
    values["csrf_token"] = token
    values["nav"] = sections_for(user.role if user is not None else None)
    values["space_name"] = request.app.state.settings.space_name
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    if new_cookie is not None:
        set_anonymous_cookie(request, response, new_cookie)
    return response
