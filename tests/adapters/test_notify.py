"""The emailed report, received by a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import datetime
import email
import ipaddress
import ssl
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from demo import last_guid, make_demo
from registryd import free_port

from axion_build.adapters.smtp import NotifyError, build_message, parse_recipients, send_report
from axion_build.config.model import SmtpSpec


class Inbox:
    """aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def message(self, index: int = -1) -> email.message.EmailMessage:
        return email.message_from_bytes(self.envelopes[index].content, policy=policy.default)


def check_login(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"builder" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ops@example.com", ["ops@example.com"]),
        ("a@x.org, b@y.org;c@z.org  d@w.org", ["a@x.org", "b@y.org", "c@z.org", "d@w.org"]),
        ("  ", []),
    ],
)
def test_parse_recipients(text, expected):
    assert parse_recipients(text) == expected


def test_message_is_multipart_alternative_text_then_html():
    message = build_message("axion@build.example", ["ops@example.com"], "subject", "plain ✓",
                            "<p>html ✓</p>")
    assert message.get_content_type() == "multipart/alternative"
    parts = [(p.get_content_type(), p.get_content()) for p in message.iter_parts()]
    assert parts == [("text/plain", "plain ✓\n"), ("text/html", "<p>html ✓</p>\n")]
    assert message["Message-ID"].endswith("@build.example>")


def test_sent_to_a_real_smtp_server(smtp):
    inbox, port = smtp
    sent = send_report(SmtpSpec(port=port, sender="axion@build.example"),
                       "ops@example.com, dev@example.com", "demo build success", "text",
                       "<b>html</b>")
    assert sent == ["ops@example.com", "dev@example.com"]
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert envelope.mail_from == "axion@build.example"
    assert inbox.message()["Subject"] == "demo build success"


def test_starttls_and_login(tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=check_login)
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our certificate
    try:
        spec = SmtpSpec(port=controller.port, starttls=True, user="builder", password="s3cret")
        send_report(spec, "ops@example.com", "over TLS", "text", "<i>html</i>")
        assert inbox.message()["Subject"] == "over TLS"
        with pytest.raises(NotifyError, match="SMTPAuthenticationError"):
            send_report(SmtpSpec(port=controller.port, starttls=True, user="builder",
                                 password="wrong"), "ops@example.com", "s", "t", "h")
        with pytest.raises(NotifyError, match="STARTTLS"):
            send_report(SmtpSpec(port=controller.port), "ops@example.com", "s", "t", "h")
    finally:
        controller.stop()


def test_unreachable_server_is_a_notify_error():
    with pytest.raises(NotifyError, match="127.0.0.1:9"):
        send_report(SmtpSpec(port=9), "ops@example.com", "s", "t", "h")
    with pytest.raises(NotifyError, match="no address"):
        send_report(SmtpSpec(port=9), " ", "s", "t", "h")


def test_doit_run_with_notify_mails_the_report_of_that_run(tmp_path, smtp):
    inbox, port = smtp
    demo = make_demo(tmp_path / "ws", smtp_port=port)
    done = demo.doit("notify=ops@example.com")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "axion: report of demo mailed to ops@example.com" in done.stdout
    guid = last_guid(demo)
    message = inbox.message()
    assert message["Subject"].startswith("[axion] demo build success in ")
    assert message["Subject"].endswith(f"({guid[:8]})")
    assert message.get_content_type() == "multipart/alternative"
    text, html = (part.get_content() for part in message.iter_parts())
    assert text.startswith("demo build SUCCESS") and guid in text
    assert html.lstrip().startswith("<!DOCTYPE html>") and guid in html
    on_disk = (demo.build / "demo" / "report" / "latest.html").read_text()
    assert html.replace("\r\n", "\n") == on_disk


def test_smtp_failure_never_fails_the_build(tmp_path):
    demo = make_demo(tmp_path / "ws", smtp_port=free_port())  # nobody listens there
    done = demo.doit("notify=ops@example.com")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "axion: WARNING: report not mailed: mail to ops@example.com" in done.stdout
    assert (demo.build / "demo" / "report" / "latest.html").exists()


def test_credentials_are_never_sent_without_tls():
    logins = []

    def record_login(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data)
        return AuthResult(success=True, handled=False)

    inbox = Inbox()
    # a server that would take a password in clear text
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=record_login, auth_require_tls=False)
    controller.start()
    try:
        spec = SmtpSpec(port=controller.port, user="builder", password="s3cret-value")
        with pytest.raises(NotifyError, match="refusing to send smtp.user's credentials "
                                              r"without TLS \(set smtp.starttls: true\)"):
            send_report(spec, "ops@example.com", "s", "t", "h")
    finally:
        controller.stop()
    assert logins == [] and inbox.envelopes == []
