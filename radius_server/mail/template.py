"""The reminder email template: parse, validate, render. Pure: no I/O, no database.

Syntax: named placeholders in braces, ``{name}``, ``{email}``, ``{pin}`` and
``{space_name}``; ``{{`` and ``}}`` are literal braces. Braces rather than
``$name`` because admins write prose, where ``{name}`` reads naturally; the
price is doubling the braces of CSS in an HTML part, which the error message
says. Every problem (unknown or malformed placeholder, stray brace, missing
``{pin}``) is found when the template is saved, never while a batch is sending.

The file format (``template set FILE``, ``template edit``, ``template show``)::

    Subject: Your PIN for {space_name}

    Plain-text body...
    --- html ---
    <p>Optional HTML body...</p>
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from radius_server.store.errors import InvalidValue

PLACEHOLDERS: dict[str, str] = {
    "name": "the member's full name (their email address when no name is recorded)",
    "email": "the member's email address",
    "pin": "the member's 5-digit PIN",
    "space_name": "the space's name (setting space_name)",
}
# Database column size of the subject (see store.models.MailTemplate).
SUBJECT_MAX = 300
HTML_SEPARATOR = "--- html ---"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBJECT_LINE = re.compile(r"subject:(.*)", re.IGNORECASE)
_PART_LABELS = {"subject": "subject", "text": "plain-text body", "html": "HTML body"}

FILE_HELP = f"""\
# Edit the PIN reminder email below; save and close the editor to apply it.
# Format: a "Subject: ..." line, a blank line, then the plain-text body.
# Optionally a line "{HTML_SEPARATOR}" followed by an HTML version of the body.
# Placeholders: {", ".join("{" + name + "}" for name in PLACEHOLDERS)}.
# Write {{{{ and }}}} for literal braces. Lines starting with # up here are ignored.
"""


class TemplateError(InvalidValue):
    """The template was refused; ``problems`` lists every reason, one line each.

    An ``InvalidValue`` so the command line reports it like any refused change:
    one message, nothing written.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"template refused: {self.problems[0]}"
        else:
            message = f"template refused, {len(self.problems)} problems:\n  " + "\n  ".join(
                self.problems
            )
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Template:
    """Subject, plain-text body and optional HTML body ("" means none)."""

    subject: str
    text: str
    html: str = ""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template with one member's values substituted. Holds a PIN: never log it."""

    subject: str
    text: str
    html: str | None


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


_Piece = str | _Field


def _suggest(word: str) -> str:
    close = difflib.get_close_matches(word.strip().lower(), PLACEHOLDERS, n=1, cutoff=0.6)
    return f" (did you mean {{{close[0]}}}?)" if close else ""


def _scan(source: str, part: str) -> tuple[list[_Piece], list[str]]:
    """Split ``source`` into literal text and placeholders; collect every problem."""
    label = _PART_LABELS[part]
    pieces: list[_Piece] = []
    problems: list[str] = []
    literal: list[str] = []
    i, n = 0, len(source)

    def where(pos: int) -> str:
        # The subject is one line; for bodies the line number helps find the spot.
        return label if part == "subject" else f"{label} line {source.count(chr(10), 0, pos) + 1}"

    while i < n:
        char = source[i]
        if char == "}":
            if source.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            problems.append(f'{where(i)}: a lone "}}"; write }}}} for a literal brace')
            i += 1
            continue
        if char != "{":
            literal.append(char)
            i += 1
            continue
        if source.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = source.find("}", i + 1)
        inner = source[i + 1 : end] if end != -1 else ""
        if end == -1 or "{" in inner or "\n" in inner:
            problems.append(
                f'{where(i)}: "{{" is not closed; write a placeholder as {{name}}, '
                "or {{ for a literal brace"
            )
            i += 1
            continue
        if _IDENTIFIER.fullmatch(inner):
            if inner in PLACEHOLDERS:
                if literal:
                    pieces.append("".join(literal))
                    literal = []
                pieces.append(_Field(inner))
            else:
                known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                problems.append(
                    f"{where(i)}: unknown placeholder {{{inner}}}{_suggest(inner)}; "
                    f"known placeholders are {known}"
                )
        else:
            shown = inner if len(inner) <= 30 else inner[:27] + "..."
            problems.append(
                f'{where(i)}: malformed placeholder "{{{shown}}}"{_suggest(inner)}; '
                "write a placeholder as {name} (no spaces, no formatting), "
                "and {{ and }} for literal braces"
            )
        i = end + 1
    if literal:
        pieces.append("".join(literal))
    return pieces, problems


def _uses(pieces: Sequence[_Piece], name: str) -> bool:
    return any(isinstance(p, _Field) and p.name == name for p in pieces)


def validate(template: Template) -> None:
    """Raise TemplateError listing every problem; return quietly when the template is usable."""
    problems: list[str] = []
    subject = template.subject
    if not subject.strip():
        problems.append("subject: must not be empty")
    if "\n" in subject or "\r" in subject:
        problems.append("subject: must be a single line")
    if len(subject) > SUBJECT_MAX:
        problems.append(f"subject: longer than {SUBJECT_MAX} characters")
    subject_pieces, found = _scan(subject, "subject")
    problems += found
    if _uses(subject_pieces, "pin"):
        # Subjects show in lock-screen notifications, mailbox lists and mail server logs.
        problems.append("subject: must not contain {pin}; put the PIN in the body")
    if not template.text.strip():
        problems.append("plain-text body: must not be empty")
    text_pieces, found = _scan(template.text, "text")
    problems += found
    if template.text.strip() and not found and not _uses(text_pieces, "pin"):
        problems.append("plain-text body: must contain {pin}, or the reminder is useless")
    if template.html.strip():
        html_pieces, found = _scan(template.html, "html")
        problems += found
        if not found and not _uses(html_pieces, "pin"):
            problems.append("HTML body: must contain {pin}; readers showing HTML see only it")
    if problems:
        raise TemplateError(problems)


def placeholder_values(*, name: str, email: str, pin: str, space_name: str) -> dict[str, str]:
    """The values for one member; ``name`` falls back to the email when none is recorded."""
    return {"name": name.strip() or email, "email": email, "pin": pin, "space_name": space_name}


def _substitute(source: str, part: str, values: Mapping[str, str], escape: bool) -> str:
    pieces, problems = _scan(source, part)
    if problems:
        raise TemplateError(problems)
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        value = values[piece.name]
        if part == "subject":
            # A line break in a header would be header injection; collapse all whitespace.
            value = " ".join(value.split())
        out.append(html.escape(value, quote=True) if escape else value)
    return "".join(out)


def render(template: Template, values: Mapping[str, str]) -> Rendered:
    """Substitute ``values`` (see placeholder_values); HTML-escape them in the HTML part."""
    missing = sorted(set(PLACEHOLDERS) - set(values))
    if missing:
        raise TemplateError([f"no value for placeholder {{{name}}}" for name in missing])
    text = _substitute(template.text, "text", values, escape=False)
    return Rendered(
        subject=_substitute(template.subject, "subject", values, escape=False).strip(),
        text=text if text.endswith("\n") else text + "\n",
        html=_substitute(template.html, "html", values, escape=True) if template.html else None,
    )


def _trim(lines: Sequence[str]) -> str:
    """Join body lines, dropping blank lines at both ends and trailing spaces at the end."""
    return "\n".join(lines).strip("\n").rstrip()


def parse_file(source: str) -> Template:
    """Read the file format (see the module docstring); raise TemplateError if malformed.

    Only the format is checked here; call validate() for the placeholders.
    """
    lines = source.splitlines()
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    match = _SUBJECT_LINE.fullmatch(lines[start].strip()) if start < len(lines) else None
    if match is None:
        raise TemplateError(['the first line must be "Subject: ...", then a blank line'])
    rest = lines[start + 1 :]
    if rest and rest[0].strip():
        raise TemplateError(["leave a blank line after the Subject line"])
    separators = [i for i, line in enumerate(rest) if line.strip().lower() == HTML_SEPARATOR]
    if len(separators) > 1:
        raise TemplateError([f'"{HTML_SEPARATOR}" may appear only once'])
    if separators:
        cut = separators[0]
        text, html_part = _trim(rest[:cut]), _trim(rest[cut + 1 :])
    else:
        text, html_part = _trim(rest), ""
    return Template(subject=match.group(1).strip(), text=text, html=html_part)


def format_file(template: Template, comment: str = "") -> str:
    """The file format of ``template``, optionally preceded by ``#`` comment lines."""
    parts = [comment, f"Subject: {template.subject}\n\n", template.text.rstrip("\n") + "\n"]
    if template.html:
        parts.append(f"{HTML_SEPARATOR}\n{template.html.rstrip(chr(10))}\n")
    return "".join(parts)


DEFAULT_TEMPLATE = Template(
    subject="Your PIN for {space_name}",
    text="""\
Hello {name},

Here is a reminder of your personal PIN for {space_name}:

    {pin}

To join the Wi-Fi, sign in with your email address ({email}) and this PIN.
If {space_name} also uses your PIN elsewhere, for example at the doors or
the printers, it is the same one.

Please keep it to yourself. If you did not ask for this reminder, or think
someone else knows your PIN, tell the {space_name} team and we will give
you a new one.

See you soon,
{space_name}""",
)
