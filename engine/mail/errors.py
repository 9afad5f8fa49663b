"""The one error a template can cause when a message is prepared or rendered.

A ``TemplateError`` fails that message only (the delivery layer records it on the outbox row and
goes on with the next one), so its text must be enough to fix the template without a debugger:
``templates/ja/dormant/intro.html:12: access to attribute '__class__' of 'str' object is unsafe``.
"""

from __future__ import annotations


class TemplateError(Exception):
    """A template that cannot be loaded, prepared or rendered for one message.

    ``file`` and ``line`` say where (``line`` 0 when the problem has no line, such as a missing
    template); ``reason`` says what, in words an author understands.
    """

    def __init__(self, reason: str, file: str = "", line: int = 0) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.reason}"
        if self.file:
            return f"{self.file}: {self.reason}"
        return self.reason


class HeaderError(TemplateError):
    """A header value (subject, display name, address) that would break the message's header
    block: a line break, a Unicode line separator or a control character (invariant I12)."""
