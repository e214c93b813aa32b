"""E-mail notifications of ``masksmith anonymise``: critical (the run stopped), error (an image failed),
finished (the run ended normally).

SMTP through :mod:`smtplib`, with optional STARTTLS and login (password from the environment variable the
config names). Each level is sent only when its flag is on (``uncaught_exception_email``,
``processing_error_email``, ``finished_email``; unlike the original, "finished" does not also need the error
flag). With ``email_attach_log_file`` the log file is attached (its tail when it is large). A failure to send is
logged and reported by the return value, never raised: a mail server problem must not stop an anonymisation.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from masksmith.anonymise.config import AnonymiseConfig, EmailConfig

__all__ = ["EmailNotifier", "Level", "Notifier", "NullNotifier", "notifier_from_config"]

_log = logging.getLogger(__name__)

_RULE = "_" * 50
_DEFAULT_SUBJECTS = {
    "critical": "Execution stopped due to an uncaught error.",
    "error": "Processing error encountered.",
    "finished": "Anonymisation finished.",
}


class Level(StrEnum):
    """Kinds of notification, each switched on by its own config flag."""

    CRITICAL = "critical"
    ERROR = "error"
    FINISHED = "finished"

    @classmethod
    def parse(cls, value: str | Level) -> Level:
        """The level named ``value`` (any case); ValueError lists the valid names."""
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(
                f"unknown notification level {value!r}; use critical, error or finished"
            ) from None


class Notifier(Protocol):
    """What the pipeline calls; returns True when a message was sent."""

    def notify(
        self, level: str | Level, subject: str, body: str, attachment: str | os.PathLike[str] | None = None
    ) -> bool: ...


class NullNotifier:
    """Sends nothing (e-mail off or not configured)."""

    def notify(
        self, level: str | Level, subject: str, body: str, attachment: str | os.PathLike[str] | None = None
    ) -> bool:
        """Validate ``level`` and send nothing."""
        Level.parse(level)
        return False


class EmailNotifier:
    """Sends notification e-mails over SMTP as configured in ``config.email``.

    ``log_file`` is named in every message and attached when ``email_attach_log_file`` is on.
    ``ssl_context`` verifies the server for STARTTLS (default: the system's trusted CAs). ``decorate``
    prefixes the subject with ``[masksmith anonymise] <host>:`` and puts a host/time/log header above the body.
    """

    def __init__(
        self,
        config: AnonymiseConfig | EmailConfig,
        *,
        log_file: str | os.PathLike[str] | None = None,
        hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        max_attachment_bytes: int = 5_000_000,
        clock: Callable[[], datetime] = datetime.now,
        decorate: bool = True,
    ) -> None:
        self.config = config.email if isinstance(config, AnonymiseConfig) else config
        self.log_file = Path(log_file) if log_file is not None else None
        self.hostname = hostname or socket.gethostname()
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._max_attachment = max_attachment_bytes
        self._clock = clock
        self._decorate = decorate

    def wants(self, level: str | Level) -> bool:
        """True when the config switches ``level`` on."""
        flags = {
            Level.CRITICAL: self.config.uncaught_exception_email,
            Level.ERROR: self.config.processing_error_email,
            Level.FINISHED: self.config.finished_email,
        }
        return flags[Level.parse(level)]

    def build_message(
        self, level: str | Level, subject: str, body: str, attachment: str | os.PathLike[str] | None = None
    ) -> EmailMessage:
        """The message :meth:`notify` would send (attachment: the given file, else the log if configured)."""
        parsed = Level.parse(level)
        message = EmailMessage()
        subject = subject or _DEFAULT_SUBJECTS[parsed]
        message["Subject"] = (
            f"[masksmith anonymise] {self.hostname}: {subject}" if self._decorate else subject
        )
        message["From"] = self.config.email_from_address or f"masksmith@{self.hostname}"
        message["To"] = ", ".join(self.config.email_to_addresses)
        header = [
            _RULE,
            f"Level: {parsed.value}",
            f"Hostname: {self.hostname}",
            f"Time: {self._clock():%Y-%m-%d %H:%M:%S}",
            f"Log file: {self.log_file if self.log_file is not None else '(none)'}",
            _RULE,
            "",
        ]
        text = "\n".join(header) + body if self._decorate else body
        message.set_content(text + ("\n" if not text.endswith("\n") else ""))
        path = Path(attachment) if attachment is not None else None
        if path is None and self.config.email_attach_log_file and self.log_file is not None:
            path = self.log_file
        if path is not None:
            self._attach(message, path)
        return message

    def _attach(self, message: EmailMessage, path: Path) -> None:
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                if size > self._max_attachment:
                    handle.seek(size - self._max_attachment)
                data = handle.read()
        except OSError as exc:
            _log.warning("cannot attach %s to the e-mail: %s", path, exc.strerror or exc)
            return
        text = data.decode("utf-8", errors="replace")
        if size > self._max_attachment:
            text = f"[... first {size - self._max_attachment} bytes left out ...]\n" + text
        message.add_attachment(text, subtype="plain", filename=path.name)

    def notify(
        self, level: str | Level, subject: str, body: str, attachment: str | os.PathLike[str] | None = None
    ) -> bool:
        """Send a ``level`` message if its flag is on; returns True when the server accepted it."""
        if not self.wants(level):
            return False
        cfg = self.config
        if not cfg.smtp_host or not cfg.email_to_addresses:
            _log.warning("e-mail (%s) not sent: smtp_host or email_to_addresses is not set", level)
            return False
        message = self.build_message(level, subject, body, attachment)
        try:
            self._send(message)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            _log.error("e-mail (%s) to %s not sent: %s", level, message["To"], _describe(exc))
            return False
        _log.info("e-mail (%s) sent to %s", level, message["To"])
        return True

    def _send(self, message: EmailMessage) -> None:
        cfg = self.config
        assert cfg.smtp_host is not None
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if cfg.smtp_starttls:
                smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if cfg.smtp_user:
                password = cfg.smtp_password()
                if password is None:
                    raise ValueError(f"smtp_user is set but ${cfg.smtp_password_env} is empty")
                smtp.login(cfg.smtp_user, password.get_secret_value())
            smtp.send_message(message)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"{type(exc).__name__}: {exc.smtp_code} {error}"
    return f"{type(exc).__name__}: {exc}"


def notifier_from_config(
    config: AnonymiseConfig, *, log_file: str | os.PathLike[str] | None = None, decorate: bool = False
) -> EmailNotifier | NullNotifier:
    """An EmailNotifier when any e-mail flag is on and SMTP is configured, else a NullNotifier.

    ``decorate`` False (the default) sends subject and body as given: the anonymisation pipeline already
    prefixes the subject and writes the hostname/time/log header itself.
    """
    email = config.email
    if not email.any_email or not email.smtp_host or not email.email_to_addresses:
        return NullNotifier()
    return EmailNotifier(config, log_file=log_file, decorate=decorate)
