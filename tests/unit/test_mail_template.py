"""Pure parts of PIN reminders: template syntax and rendering, the file format, the
MIME message, the SMTP settings check and the rate limit on a fake clock."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from radius_server.config import ConfigError, Settings
from radius_server.mail.message import build_message, mailbox
from radius_server.mail.sender import SmtpConfig, TokenBucket
from radius_server.mail.template import (
    DEFAULT_TEMPLATE,
    FILE_HELP,
    Rendered,
    Template,
    TemplateError,
    format_file,
    parse_file,
    placeholder_values,
    render,
    validate,
)

VALUES = placeholder_values(
    name="Ana Lima", email="ana@example.com", pin="40517", space_name="Hive"
)


def problems_of(template: Template) -> tuple[str, ...]:
    """The problems validate() reports (fails the test if it accepts the template)."""
    with pytest.raises(TemplateError) as caught:
        validate(template)
    return caught.value.problems


# --- validation: refused when saved -------------------------------------------------------


def test_default_template_is_valid_and_renders_the_pin() -> None:
    """The built-in default passes its own rules and carries every value."""
    validate(DEFAULT_TEMPLATE)
    rendered = render(DEFAULT_TEMPLATE, VALUES)
    assert rendered.subject == "Your PIN for Hive"
    assert "40517" in rendered.text
    assert "Hello Ana Lima," in rendered.text
    assert "ana@example.com" in rendered.text
    assert rendered.html is None
    assert "40517" not in rendered.subject


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            Template("Hi {nmae}", "PIN {pin}"),
            "subject: unknown placeholder {nmae} (did you mean {name}?)",
        ),
        (
            Template("Hi", "Hello {Name},\nPIN {pin}"),
            "plain-text body line 1: unknown placeholder {Name} (did you mean {name}?)",
        ),
        (
            Template("Hi", "PIN {pin}\n\nBye {member_number}"),
            "plain-text body line 3: unknown placeholder {member_number};",
        ),
        (
            Template("Hi", "PIN {pin}", "<p>{pin} {password}</p>"),
            "HTML body line 1: unknown placeholder {password};",
        ),
    ],
)
def test_unknown_placeholder_is_named(template: Template, expected: str) -> None:
    """The message names the placeholder, where it is, and suggests a near match."""
    problems = problems_of(template)
    assert len(problems) == 1
    assert problems[0].startswith(expected)
    assert "{name}, {email}, {pin}, {space_name}" in problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PIN {pin}, { name }", 'malformed placeholder "{ name }" (did you mean {name}?)'),
        ("PIN {pin:>8}", 'malformed placeholder "{pin:>8}"'),
        ("PIN {pin} {}", 'malformed placeholder "{}"'),
        ("PIN {pin} {0}", 'malformed placeholder "{0}"'),
        ("PIN {pin!r}", 'malformed placeholder "{pin!r}"'),
        ("PIN {pin} {email.upper}", 'malformed placeholder "{email.upper}"'),
        ("PIN {pin}\nsee {name", 'line 2: "{" is not closed'),
        ("PIN {pin}\n{name\n}", 'line 2: "{" is not closed'),
        ("PIN {pin} }", 'a lone "}"; write }} for a literal brace'),
    ],
)
def test_malformed_placeholder_is_refused(text: str, expected: str) -> None:
    """Spaces, formatting, positional fields and stray braces are all refused, clearly."""
    problems = problems_of(Template("Hi", text))
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    """An admin fixes all mistakes in one round, not one per save."""
    with pytest.raises(TemplateError) as caught:
        validate(Template("Hi {nmae}", "Dear {fullname}\nPIN {pin} {", "<p>{pin}</p>}"))
    assert len(caught.value.problems) == 4
    assert str(caught.value).startswith("template refused, 4 problems:")
    assert "{nmae}" in str(caught.value) and "{fullname}" in str(caught.value)


def test_css_braces_must_be_doubled_and_then_render_single() -> None:
    """CSS in the HTML part needs {{ }}; the message says so, and doubled braces render single."""
    bad = Template("Hi", "PIN {pin}", "<style>p { color: red }</style><p>{pin}</p>")
    assert any("{{ and }} for literal braces" in p for p in problems_of(bad))
    good = Template("Hi", "PIN {pin}", "<style>p {{ color: red }}</style><p>{pin}</p>")
    validate(good)
    assert render(good, VALUES).html == "<style>p { color: red }</style><p>40517</p>"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (Template("Your PIN {pin}", "PIN {pin}"), "subject: must not contain {pin}"),
        (Template("Hi", "Hello {name}"), "plain-text body: must contain {pin}"),
        (Template("Hi", "PIN {pin}", "<p>Hello</p>"), "HTML body: must contain {pin}"),
        (Template("  ", "PIN {pin}"), "subject: must not be empty"),
        (Template("Hi\nBcc: x@example.com", "PIN {pin}"), "subject: must be a single line"),
        (Template("Hi", "  \n"), "plain-text body: must not be empty"),
        (Template("x" * 301, "PIN {pin}"), "subject: longer than 300 characters"),
    ],
)
def test_structural_rules(template: Template, expected: str) -> None:
    """No PIN in the subject (it shows on lock screens), a PIN in each body, one-line subject."""
    problems = problems_of(template)
    assert any(p.startswith(expected) for p in problems), problems


def test_template_error_is_a_refused_change() -> None:
    """The CLI reports it like any refused change (StoreError: one line, exit 1)."""
    from radius_server.store.errors import StoreError

    assert issubclass(TemplateError, StoreError)


# --- rendering ----------------------------------------------------------------------------


def test_html_part_escapes_values_but_text_does_not() -> None:
    """A name with markup is text in the HTML part, verbatim in the plain part."""
    template = Template("For {name}", "Hi {name}, PIN {pin}", "<p>Hi <b>{name}</b>: {pin}</p>")
    values = placeholder_values(
        name='Ana <script>"&', email="ana@example.com", pin="40517", space_name="Hive"
    )
    rendered = render(template, values)
    assert rendered.html == "<p>Hi <b>Ana &lt;script&gt;&quot;&amp;</b>: 40517</p>"
    assert rendered.text == 'Hi Ana <script>"&, PIN 40517\n'
    assert rendered.subject == 'For Ana <script>"&'


def test_subject_values_cannot_inject_headers() -> None:
    """A line break in a value is collapsed in the subject."""
    values = placeholder_values(
        name="Ana\r\nBcc: evil@example.com", email="a@example.com", pin="40517", space_name="Hive"
    )
    assert render(Template("Hi {name}", "{pin}"), values).subject == (
        "Hi Ana Bcc: evil@example.com"
    )


def test_name_falls_back_to_email_and_braces_escape() -> None:
    """No recorded name: the greeting uses the email; {{ and }} are literal braces."""
    values = placeholder_values(name="  ", email="bo@example.com", pin="00042", space_name="Hive")
    rendered = render(Template("Hi", "Hi {name} {{not a placeholder}} {pin}"), values)
    assert rendered.text == "Hi bo@example.com {not a placeholder} 00042\n"


def test_render_requires_every_value() -> None:
    """A caller forgetting a value is a programming error caught loudly."""
    with pytest.raises(TemplateError, match=r"\{space_name\}"):
        render(DEFAULT_TEMPLATE, {"name": "A", "email": "a@example.com", "pin": "40517"})


# --- the file format ----------------------------------------------------------------------


def test_file_format_round_trips_with_help_comments() -> None:
    """show -> edit -> set: the printed form parses back to the same template."""
    template = Template("Your PIN", "Hello {name},\n\n  {pin}\n\nBye", "<p>{pin}</p>\n<p>x</p>")
    text = format_file(template, FILE_HELP + "# Saved by someone.\n")
    assert text.startswith("# Edit the PIN reminder email")
    assert parse_file(text) == template
    assert parse_file(format_file(DEFAULT_TEMPLATE)) == DEFAULT_TEMPLATE


def test_parse_file_details() -> None:
    """Case-insensitive Subject, CRLF, blank lines at the ends trimmed, # kept in the body."""
    source = "\r\n# comment\r\nSUBJECT:   Hi {name}  \r\n\r\n\r\n# not a comment {pin}\r\n\r\n"
    assert parse_file(source) == Template("Hi {name}", "# not a comment {pin}", "")
    with_html = "Subject: Hi\n\nPIN {pin}\n\n--- HTML ---\n\n<p>{pin}</p>\n"
    assert parse_file(with_html) == Template("Hi", "PIN {pin}", "<p>{pin}</p>")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hello {name}\n\nPIN {pin}", 'the first line must be "Subject: ..."'),
        ("", 'the first line must be "Subject: ..."'),
        ("Subject: Hi\nPIN {pin}", "leave a blank line after the Subject line"),
        ("Subject: Hi\n\n{pin}\n--- html ---\n{pin}\n--- html ---\n", "may appear only once"),
    ],
)
def test_parse_file_refuses_bad_layout(source: str, expected: str) -> None:
    """A file that does not follow the format is refused with what to fix."""
    with pytest.raises(TemplateError, match=expected.replace(".", r"\.")):
        parse_file(source)


# --- the MIME message ---------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def reparse(message: email.message.EmailMessage) -> email.message.EmailMessage:
    """What a receiving server would see."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_plain_message_headers() -> None:
    """From with the display name, To, Subject, Date and a Message-ID in the sender's domain."""
    rendered = Rendered("Your PIN for Hive", "PIN 40517\n", None)
    message = reparse(
        build_message(
            rendered,
            sender=mailbox("desk@hive.example", "Hive & Co"),
            recipient=mailbox("ana@example.com", "Ana Lima"),
            now=NOW,
        )
    )
    assert message["From"] == "Hive & Co <desk@hive.example>"
    assert message["From"].addresses[0].display_name == "Hive & Co"
    assert message["To"] == "Ana Lima <ana@example.com>"
    assert message["Subject"] == "Your PIN for Hive"
    assert message["Date"] == "Fri, 27 Nov 2026 09:30:00 +0000"
    assert message["Message-ID"].endswith("@hive.example>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "PIN 40517\n"


def test_html_message_is_multipart_alternative_plain_first() -> None:
    """With an HTML part: multipart/alternative, text/plain then text/html."""
    rendered = Rendered("Ihre PIN für Café Größe", "PIN 40517\n", "<p>PIN <b>40517</b></p>")
    message = reparse(
        build_message(
            rendered,
            sender=mailbox("desk@hive.example", "Café Größe"),
            recipient=mailbox("zoë@example.com", "Zoë Ærø"),
            now=NOW,
        )
    )
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["Subject"] == "Ihre PIN für Café Größe"
    assert message["From"].addresses[0].display_name == "Café Größe"
    assert message["To"].addresses[0].display_name == "Zoë Ærø"
    assert message.get_body(("html",)).get_content().strip() == "<p>PIN <b>40517</b></p>"


def test_mailbox_refuses_non_addresses() -> None:
    """Display names lose line breaks; a value without @ is not an address."""
    assert str(mailbox("a@example.com", "Ana\nLima")) == "Ana Lima <a@example.com>"
    for bad in ("nobody", "@example.com", "ana@"):
        with pytest.raises(ValueError):
            mailbox(bad)


# --- SMTP settings ------------------------------------------------------------------------


def test_smtp_config_needs_a_sender_and_hides_the_password() -> None:
    """No sender address: a ConfigError naming the setting. The password never prints."""
    with pytest.raises(ConfigError, match="smtp_sender_address"):
        SmtpConfig.from_settings(Settings(data_dir="/tmp/x"))
    with pytest.raises(ConfigError, match="not an email address"):
        SmtpConfig.from_settings(Settings(data_dir="/tmp/x", smtp_sender_address="desk"))
    config = SmtpConfig.from_settings(
        Settings(
            data_dir="/tmp/x",
            space_name="Hive",
            smtp_host="mail.example.org",
            smtp_port=587,
            smtp_user="desk",
            smtp_password="hunter2-secret",
            smtp_sender_address="desk@hive.example",
        )
    )
    assert str(config.sender) == "Hive <desk@hive.example>"
    assert config.describe() == "mail.example.org:587 (STARTTLS, as desk)"
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in config.describe()


# --- rate limit ---------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps (or the test says)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_spaces_messages_evenly() -> None:
    """60 a minute: the first goes at once, then one a second."""
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(4)]
    assert waits == [0.0, pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0)]
    assert clock.now == pytest.approx(1003.0)


def test_bucket_does_not_save_up_idle_time_beyond_its_capacity() -> None:
    """After a long pause there is one token, not a minute's worth: no burst."""
    clock = FakeClock()
    bucket = TokenBucket(120, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 600
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.5)


def test_bucket_with_capacity_allows_a_burst_then_the_rate() -> None:
    """Capacity 3 at 6 a minute: three at once, then one every 10 s; never more per window."""
    clock = FakeClock()
    bucket = TokenBucket(6, capacity=3, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(10.0), pytest.approx(10.0)]


def test_bucket_counts_time_that_passed_between_sends() -> None:
    """Time spent sending counts toward the next token."""
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 0.75  # the SMTP round trip took 0.75 s
    assert bucket.acquire() == pytest.approx(0.25)


def test_bucket_refuses_nonsense() -> None:
    """A zero rate would never send; refused early."""
    with pytest.raises(ValueError):
        TokenBucket(0)
