"""What an SMTP reply or fault means for one message: pure functions, no I/O.

The phase decides as much as the code (RELIABILITY.md 2.3). Before the final dot of DATA nothing
can have been accepted, so every fault there is safe to retry; after it, a lost reply is
ambiguous (RFC 1047) and becomes ``unknown``, never a blind resend. Permanent refusals are
split by their RFC 3463 enhanced status code: the address is bad (X.1.1, X.1.2, X.1.3, X.1.6,
X.1.10: a hard bounce, suppressed), the mailbox is temporarily unusable (X.2.x: soft, retried),
or the sender is refused for policy or reputation (X.7.x: never the lead's fault, not
suppressed, alerted). Refusals of AUTH or MAIL FROM are the sender's configuration: the run
stops before it touches another lead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Phase = Literal["connect", "tls", "auth", "mail", "rcpt", "data_start", "data_body",
                "data_end"]
Status = Literal["sent", "deferred", "failed", "suppressed", "unknown", "released"]

HARD_BOUNCE = frozenset({"1.1", "1.2", "1.3", "1.6", "1.10", "4.4"})
"""Subject.detail of enhanced codes that condemn the address itself (5.4.4: no route to its
domain). Anything else permanent fails the message without suppressing the address."""

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
_RETRY_HINT = re.compile(
    r"(?:retry|try again)\s+(?:in|after)\s+(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|"
    r"h|hours?)\b", re.I)
_QUEUE_ID = re.compile(r"\bqueued\s+as\s+<?([A-Za-z0-9][A-Za-z0-9._@:+-]{0,120})", re.I)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one delivery attempt, ready to be written to the ledger."""

    status: Status
    reason: str
    code: int | None = None
    text: str | None = None
    relay_id: str | None = None
    suppress: bool = False  # add a "bounce" suppression for the recipient
    alert: str | None = None  # policy, content, tls, sender, unknown...: an audit row + a log line
    retry_after: float | None = None  # seconds the relay asked us to wait
    close: bool = False  # drop the connection (421, timeouts, disconnects)
    breaker: bool = False  # the relay is unreachable: stop trying it in this run
    stop: bool = False  # sender configuration error: stop the run, touch no other lead
    soft_permanent: bool = False  # a 5xx treated as temporary (X.2.x): suppress if it persists


def enhanced_code(text: str | None) -> str | None:
    """The RFC 3463 code at the start of a reply text: ``"5.1.1 User unknown"`` -> ``"5.1.1"``."""
    if not text:
        return None
    match = _ENHANCED.match(text)
    return ".".join(match.groups()) if match else None


def retry_hint(text: str | None) -> float | None:
    """Seconds from a hint such as "421 Try again in 5 minutes" (Postal honours these too)."""
    if not text:
        return None
    match = _RETRY_HINT.search(text)
    if not match:
        return None
    unit = match.group(2)[0].lower()
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]


def relay_id(text: str | None) -> str | None:
    """The relay's queue id from "250 2.0.0 Ok: queued as 4BC3D1F2": what its logs key on."""
    if not text:
        return None
    match = _QUEUE_ID.search(text)
    return match.group(1).rstrip(".") if match else None


def reply(phase: Phase, code: int, text: str) -> Outcome:
    """Classify a reply to a command of ``phase`` (a 2xx only matters at ``data_end``)."""
    text = _one_line(text)
    said = f"{code} {text}".strip()
    enhanced = enhanced_code(text)
    subject = enhanced.split(".", 1)[1] if enhanced else None

    def out(status: Status, reason: str, **more: Any) -> Outcome:
        return Outcome(status, reason, code=code, text=text, **more)

    if phase == "data_end" and 200 <= code < 300:
        return out("sent", "accepted by the relay", relay_id=relay_id(text))
    if code < 0:  # aiosmtplib's marker for an unparseable reply
        if phase == "data_end":
            return out("unknown", f"unreadable reply after the final dot: {said}",
                       alert="unknown", close=True)
        return out("deferred", f"unreadable reply to {phase}: {said}", close=True)
    if code == 421:
        return out("deferred", f"relay closing the connection at {phase}: {said}",
                   retry_after=retry_hint(text), close=True)
    if 400 <= code < 500:
        if phase in ("connect", "tls"):
            return out("deferred", f"relay unavailable ({phase}): {said}", close=True,
                       breaker=True, retry_after=retry_hint(text))
        return out("deferred", f"temporary refusal at {phase}: {said}",
                   retry_after=retry_hint(text))
    if phase in ("auth", "mail"):
        what = "authentication" if phase == "auth" else "the sender address (MAIL FROM)"
        return out("released", f"sender configuration error: the relay refused {what}: "
                   f"{said}", stop=True, alert="sender")
    if phase in ("connect", "tls"):
        return out("deferred", f"relay refused the connection ({phase}): {said}",
                   close=True, breaker=True, alert="relay")
    if subject is not None and subject.startswith("7."):
        return out("failed", f"refused by policy (not the address): {said}",
                   alert="policy")
    if subject is not None and subject.startswith("2."):
        return out("deferred", f"mailbox temporarily unusable: {said}",
                   soft_permanent=True)
    if subject in HARD_BOUNCE:
        return out("failed", f"hard bounce: {said}", suppress=True)
    if phase == "data_end":
        return out("failed", f"message refused after DATA (content): {said}",
                   alert="content")
    if phase == "rcpt":
        return out("failed", f"recipient refused: {said}")
    return out("failed", f"refused at {phase}: {said}", alert="content")


def fault(phase: Phase, error: BaseException) -> Outcome:
    """Classify a connection fault (refused, reset, timeout, TLS) that happened in ``phase``."""
    what = f"{type(error).__name__}: {error}".strip().rstrip(":")
    if phase == "data_end":
        return Outcome("unknown", f"no reply after the final dot ({what}): the relay may or may "
                       "not have accepted the message (RFC 1047); reconcile by Message-ID",
                       alert="unknown", close=True)
    if phase in ("connect", "tls"):
        alert = "tls" if phase == "tls" or _is_tls(error) else None
        return Outcome("deferred", f"cannot reach the relay ({phase}): {what}", close=True,
                       breaker=True, alert=alert)
    return Outcome("deferred", f"connection lost at {phase} (before the final dot): {what}",
                   close=True)


def _is_tls(error: BaseException) -> bool:
    import ssl

    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
