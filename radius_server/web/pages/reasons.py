"""The decision reasons of README "Reasons", said so the front desk can read them to a member.

Pure: a reason word (and, for a lockout, when it lifts) in, one plain sentence
out. An unknown word gets a neutral sentence naming it, so a reason added to the
server later still shows.
"""

from __future__ import annotations

# One sentence per reason an Access-Request decision can carry (rules/decision.py).
EXPLANATIONS: dict[str, str] = {
    "ok": "Signed in: right PIN, Wi-Fi access on, within the member's dates.",
    "wrong_pin": "Wrong PIN. Check the PIN on the member's page (or send a reminder).",
    "unknown_user": "No member has this email. Check the spelling, or add the member.",
    "bad_pin_format": "What was typed as the PIN is not 5 digits (a typo, most often).",
    "stale_pin": "The device still uses the member's previous PIN: forget the network "
    "on the device and join again with the new one.",
    "inactive": "The member is disabled.",
    "wrong_location": "The member's plan does not include this access point's location.",
    "outside_hours": "Outside the hours the member's plan allows.",
    "device_limit": "The member already has as many devices online as the plan allows: "
    "disconnect one first.",
    "no_wifi_access": "Wi-Fi access is turned off for this member.",
    "not_yet_valid": "The member's access has not started yet (valid-from is later).",
    "expired": "The member's access has expired (valid-until has passed).",
    "locked_out": "Locked out by guessing protection after too many wrong PINs; "
    "the PIN was not checked.",
    "throttled": "Too many wrong PINs from this device or place: guessing protection "
    "is holding sign-ins for a while; the PIN was not checked.",
    "unsupported_method": "The device or access point used a sign-in method this server "
    "does not take.",
    "no_user_name": "The device sent no email.",
    "reply_too_large": "The answer did not fit in a RADIUS packet: tell the administrator.",
    "eap_challenge": "The secure (WPA-Enterprise) sign-in is in progress.",
    "eap_session_limit": "Too many secure sign-ins at once: try again in a moment.",
    "eap_unknown_state": "The secure sign-in took too long or was restarted: try again.",
    "eap_tls_failed": "The device did not accept the server's certificate: "
    "check the certificate the device trusts.",
    "eap_protocol_error": "The device's secure sign-in went wrong: forget the network and "
    "join again.",
    "eap_no_common_method": "The device and the server share no secure sign-in method: "
    "choose PEAP or TTLS with PAP/MS-CHAPv2 on the device.",
    "eap_resumption_expired": "The device tried a fast reconnect the server no longer "
    "remembers; its next attempt signs in normally.",
}
LOCK_UNTIL = " It clears at {until} (or when staff clear it on the member's page)."


def explain(reason: str, lock_until: str | None = None) -> str:
    """The sentence for ``reason``; for ``locked_out``, when the lock clears (as shown) if known."""
    sentence = EXPLANATIONS.get(reason)
    if sentence is None:
        return (
            f"The server gave the reason {reason!r}; an administrator can look it up in the logs."
        )
    if reason == "locked_out" and lock_until is not None:
        sentence += LOCK_UNTIL.format(until=lock_until)
    return sentence
