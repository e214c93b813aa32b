"""Tests of masksmith.anonymise.notify against a real aiosmtpd server on loopback (plain, STARTTLS, login)."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml

from masksmith.anonymise.config import AnonymiseConfig, load_config
from masksmith.anonymise.notify import EmailNotifier, Level, NullNotifier, notifier_from_config
from tests.pg import free_port

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="pip install aiosmtpd")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

USER = "mailer"
SMTP_SECRET = "Smtp-Secret-42"
FIXED_TIME = dt.datetime(2024, 5, 17, 12, 30, 0)


@dataclass
class Inbox:
    """Messages the test server accepted, and the logins it saw."""

    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        login = auth_data.login.decode()
        ok = login == USER and auth_data.password.decode() == SMTP_SECRET
        if ok:
            self.logins.append(login)
        return aiosmtpd_smtp.AuthResult(success=ok, handled=False)


@dataclass
class Server:
    port: int
    inbox: Inbox


ServerFactory = Callable[..., Server]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[ServerFactory]:
    """Start aiosmtpd servers on loopback: plain, or with STARTTLS and/or required login."""
    controllers: list[Any] = []

    def start(*, starttls: bool = False, login: bool = False) -> Server:
        inbox = Inbox()
        kwargs: dict[str, Any] = {}
        if starttls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            kwargs.update(tls_context=context, require_starttls=True)
        if login:
            kwargs.update(authenticator=inbox.authenticate, auth_required=True, auth_require_tls=starttls)
        port = free_port()
        controller = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return Server(port=port, inbox=inbox)

    yield start
    for controller in controllers:
        controller.stop()


def make_config(tmp_path: Path, port: int, **keys: Any) -> AnonymiseConfig:
    values = {
        "uncaught_exception_email": True,
        "processing_error_email": True,
        "finished_email": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "email_from_address": "anon@example.org",
        "email_to_addresses": ["ops@example.org", "lead@example.org"],
        **keys,
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return load_config(path)


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_plain_smtp_message_layout(tmp_path: Path, smtp_server: ServerFactory) -> None:
    server = smtp_server()
    log = tmp_path / "run.log"
    config = make_config(tmp_path, server.port)
    notifier = EmailNotifier(config, log_file=log, hostname="roadhost", clock=lambda: FIXED_TIME)
    assert notifier.notify("finished", "Anonymisation finished.", "Masked images: 12") is True
    [message] = server.inbox.messages
    assert message["Subject"] == "[masksmith anonymise] roadhost: Anonymisation finished."
    assert message["From"] == "anon@example.org"
    assert server.inbox.recipients == [["ops@example.org", "lead@example.org"]]
    text = message.get_payload(decode=True).decode()
    assert "Hostname: roadhost" in text and "Time: 2024-05-17 12:30:00" in text
    assert f"Log file: {log}" in text and text.rstrip().endswith("Masked images: 12")
    assert not message.is_multipart()  # email_attach_log_file is off


@pytest.mark.parametrize(
    ("level", "flag"),
    [
        (Level.CRITICAL, "uncaught_exception_email"),
        ("error", "processing_error_email"),
        ("FINISHED", "finished_email"),
    ],
)
def test_each_level_obeys_its_own_flag(
    tmp_path: Path, smtp_server: ServerFactory, level: Any, flag: str
) -> None:
    server = smtp_server()
    off = EmailNotifier(make_config(tmp_path, server.port, **{flag: False}))
    assert off.notify(level, "", "body") is False
    assert server.inbox.messages == []
    on = EmailNotifier(make_config(tmp_path, server.port, **{flag: True}), hostname="h")
    assert on.notify(level, "", "body") is True
    default_subject = {
        "uncaught_exception_email": "Execution stopped due to an uncaught error.",
        "processing_error_email": "Processing error encountered.",
        "finished_email": "Anonymisation finished.",
    }[flag]
    assert server.inbox.messages[0]["Subject"] == f"[masksmith anonymise] h: {default_subject}"


def test_finished_needs_only_its_own_flag(tmp_path: Path, smtp_server: ServerFactory) -> None:
    # The original also required processing_error_email for the "finished" e-mail.
    server = smtp_server()
    config = make_config(tmp_path, server.port, processing_error_email=False, uncaught_exception_email=False)
    assert EmailNotifier(config).notify("finished", "done", "") is True
    assert len(server.inbox.messages) == 1


def _attachments(message: Message) -> list[tuple[str | None, str]]:
    return [
        (part.get_filename(), part.get_payload(decode=True).decode().replace("\r\n", "\n"))
        for part in message.walk()
        if part.get_content_disposition() == "attachment"
    ]


def test_log_file_attached_when_configured(tmp_path: Path, smtp_server: ServerFactory) -> None:
    server = smtp_server()
    log = tmp_path / "2024-05-17_123000_host.log"
    log.write_text("[2024-05-17 12.30.00 ERROR]: image x.jpg failed\n", encoding="utf-8")
    config = make_config(tmp_path, server.port, email_attach_log_file=True)
    assert (
        EmailNotifier(config, log_file=log).notify("error", "Processing error encountered.", "trace") is True
    )
    assert _attachments(server.inbox.messages[0]) == [(log.name, log.read_text(encoding="utf-8"))]


def test_large_log_attaches_its_tail(tmp_path: Path, smtp_server: ServerFactory) -> None:
    server = smtp_server()
    log = tmp_path / "big.log"
    lines = [f"line {i:05d}\n" for i in range(2000)]
    log.write_text("".join(lines), encoding="utf-8")
    config = make_config(tmp_path, server.port, email_attach_log_file=True)
    assert EmailNotifier(config, log_file=log, max_attachment_bytes=110).notify("error", "e", "b")
    [(_, text)] = _attachments(server.inbox.messages[0])
    omitted = log.stat().st_size - 110
    assert text == f"[... first {omitted} bytes left out ...]\n" + "".join(lines[-10:])


def test_explicit_attachment_is_sent_even_without_the_log_flag(
    tmp_path: Path, smtp_server: ServerFactory
) -> None:
    server = smtp_server()
    extra = tmp_path / "x_error.txt"
    extra.write_text("decoder said no\n", encoding="utf-8")
    assert EmailNotifier(make_config(tmp_path, server.port)).notify("error", "e", "b", attachment=extra)
    assert _attachments(server.inbox.messages[0]) == [("x_error.txt", "decoder said no\n")]


def test_starttls_and_login(
    tmp_path: Path,
    smtp_server: ServerFactory,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = smtp_server(starttls=True, login=True)
    config = make_config(tmp_path, server.port, smtp_starttls=True, smtp_user=USER)
    monkeypatch.setenv("MASKSMITH_SMTP_PASSWORD", SMTP_SECRET)
    notifier = EmailNotifier(config, ssl_context=client_context(certificate), timeout=10)
    assert notifier.notify("finished", "done", "ok") is True
    assert server.inbox.logins == [USER] and len(server.inbox.messages) == 1
    monkeypatch.setenv("MASKSMITH_SMTP_PASSWORD", "not-the-password")
    assert notifier.notify("finished", "done", "ok") is False
    assert len(server.inbox.messages) == 1
    assert "SMTPAuthenticationError" in caplog.text
    assert SMTP_SECRET not in caplog.text and "not-the-password" not in caplog.text


def test_starttls_refuses_an_untrusted_certificate(
    tmp_path: Path, smtp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_server(starttls=True)
    config = make_config(tmp_path, server.port, smtp_starttls=True)
    assert EmailNotifier(config).notify("error", "e", "b") is False  # system CAs do not trust the test cert
    assert server.inbox.messages == []
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_server_requiring_starttls_rejects_plain_clients(tmp_path: Path, smtp_server: ServerFactory) -> None:
    server = smtp_server(starttls=True)
    assert EmailNotifier(make_config(tmp_path, server.port)).notify("error", "e", "b") is False
    assert server.inbox.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_without_password_variable_is_reported(
    tmp_path: Path,
    smtp_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = smtp_server(login=True)
    monkeypatch.delenv("MASKSMITH_SMTP_PASSWORD", raising=False)
    config = make_config(tmp_path, server.port, smtp_user=USER)
    assert EmailNotifier(config).notify("error", "e", "b") is False
    assert "$MASKSMITH_SMTP_PASSWORD is empty" in caplog.text


def test_unreachable_server_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path, free_port())
    assert EmailNotifier(config, timeout=5).notify("critical", "stopped", "Traceback ...") is False
    assert "not sent" in caplog.text


def test_notifier_from_config_and_null_notifier(tmp_path: Path) -> None:
    assert isinstance(notifier_from_config(load_config(None)), NullNotifier)
    no_host = make_config(tmp_path, 25, smtp_host=None)
    assert isinstance(notifier_from_config(no_host), NullNotifier)
    assert isinstance(
        notifier_from_config(make_config(tmp_path, 25), log_file=tmp_path / "l.log"), EmailNotifier
    )
    assert NullNotifier().notify("finished", "s", "b") is False
    with pytest.raises(ValueError, match="critical, error or finished"):
        NullNotifier().notify("warning", "s", "b")


def test_undecorated_messages_are_sent_as_given(tmp_path: Path, smtp_server: ServerFactory) -> None:
    # The pipeline formats subject and header itself; the factory's notifier passes them through.
    server = smtp_server()
    notifier = notifier_from_config(make_config(tmp_path, server.port))
    assert isinstance(notifier, EmailNotifier)
    assert (
        notifier.notify("finished", "[masksmith anonymise] h : Anonymisation finished.", "Masked: 3") is True
    )
    [message] = server.inbox.messages
    assert message["Subject"] == "[masksmith anonymise] h : Anonymisation finished."
    assert message.get_payload(decode=True).decode().replace("\r\n", "\n") == "Masked: 3\n"
