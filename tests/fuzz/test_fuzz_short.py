"""The fuzzing harness in the test suite: corpus replay, the oracles, and a short atheris run.

The short run shares 36 seconds of fuzzing among the targets (about a minute
with each child's start-up; set ``RADIUS_FUZZ_SECONDS`` for more);
bench/fuzz_long.py runs them for longer and reports the rates. A failure
prints the reproducer and the command to replay it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radius_server.protocol import codes as c
from radius_server.rules import policy
from radius_server.rules.decision import Decision, Outcome, Reason
from tests.conftest import skip_or_fail
from tests.fuzz import targets
from tests.fuzz.runner import CORPUS, run_target
from tests.fuzz.world import InvariantError, World

TOTAL_SECONDS = float(os.environ.get("RADIUS_FUZZ_SECONDS", "36"))


def _corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


@pytest.mark.parametrize("target", list(targets.TARGETS))
def test_corpus_replays_cleanly(target: str) -> None:
    """Every checked-in seed and regression reproducer passes its target's invariants."""
    files = _corpus(target)
    assert files, f"no corpus for {target}"
    for path in files:
        targets.TARGETS[target](path.read_bytes())


def test_oracle_catches_an_accept_without_the_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant the worst bug (every PIN accepted): the engine target must report it."""

    # The engine passes judge's arguments in order (rules/policy.py), so the stand-in takes any.
    def accept_all(member, check, now, *_args, **_kwargs):  # type: ignore[no-untyped-def]
        accept = Decision(Outcome.ACCEPT, Reason.OK, (), member.email if member else None)
        return accept, policy.Tally.SUCCESS, policy.PROVEN

    monkeypatch.setattr(policy, "judge", accept_all)
    wrong_pap = bytes((2, targets.PAP_GUESS, 0)) + bytes(16) + b"11111"
    with pytest.raises(AssertionError, match="without the member's PIN"):
        targets.engine(wrong_pap)


def test_oracle_catches_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A method that raises is contained by the engine, and the harness still reports it."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted")

    world = World()
    monkeypatch.setattr(world.engine.guard, "gate", broken)
    packet = targets.build_request(bytes((2, targets.PAP_RIGHT, 0)) + bytes(16))
    with pytest.raises(AssertionError, match="internal_error"):
        world.auth(packet)


def test_clean_eap_conversations_accept_only_the_right_pin() -> None:
    """The eap_session target's baseline: every method and TLS version, right and wrong PIN."""
    from tests.fuzz.peer import run_conversation

    for case in range(8):
        assert run_conversation(case, True, targets.CLEAN, 0, b"")
        assert not run_conversation(case, False, targets.CLEAN, 0, b"")


@pytest.mark.parametrize("target", list(targets.TARGETS))
def test_fuzz_short(target: str, tmp_path: Path) -> None:
    """Coverage-guided fuzzing for this target's share of about a minute: no invariant breaks."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        skip_or_fail("atheris is not installed (pip install -e '.[test]')")
    share = TOTAL_SECONDS * targets.WEIGHTS[target] / sum(targets.WEIGHTS.values())
    run = run_target(target, share, tmp_path)
    assert not run.crashed, run.report()
    assert run.execs > 0, run.output[-3000:]


def test_dynauth_oracle_catches_a_forged_or_refused_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant both bugs in reply checking: the dynauth_reply target must report each."""
    from radius_server.protocol import dynauth

    forged = b"\x00" + bytes((c.Code.DISCONNECT_NAK, targets.DYNAUTH_IDENTIFIER, 0, 20)) + bytes(16)
    signed = bytes((targets.DYNAUTH_SIGNED, c.Code.DISCONNECT_ACK))
    targets.dynauth_reply(forged)
    targets.dynauth_reply(signed)
    monkeypatch.setattr(dynauth, "verify_reply", lambda *args, **kwargs: True)
    with pytest.raises(InvariantError, match="not signed for our request"):
        targets.dynauth_reply(forged)
    monkeypatch.setattr(dynauth, "verify_reply", lambda *args, **kwargs: False)
    with pytest.raises(InvariantError, match="was refused"):
        targets.dynauth_reply(signed)
