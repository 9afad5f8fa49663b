"""One normalisation of email addresses for the whole engine.

The lead table's unique email, dedupe on import and the suppression hash all depend on the same
address always normalising to the same text: a suppression written for ``Taro@Example.co.jp``
must stop a send to ``taro@example.co.jp`` imported a year later from another CRM.
"""

from __future__ import annotations

import hashlib
import unicodedata


def normalise_email(raw: str) -> str:
    """NFKC (full-width to half-width), surrounding whitespace trimmed, lower-case.

    >>> normalise_email("  Ｔａｒｏ@Example.CO.JP ")
    'taro@example.co.jp'
    """
    return unicodedata.normalize("NFKC", raw).strip().lower()


def email_hash(raw: str) -> str:
    """SHA-256 (hex) of the normalised address: what suppressions keep after an erasure."""
    return hashlib.sha256(normalise_email(raw).encode("utf-8")).hexdigest()
