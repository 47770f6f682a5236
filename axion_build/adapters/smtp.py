"""The emailed build report: one multipart/alternative message (text + HTML) over SMTP."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from axion_build.config.model import SmtpSpec


class NotifyError(Exception):
    """The report could not be mailed; the message says to whom and why."""


def parse_recipients(text: str) -> list[str]:
    """Addresses from `--notify` (comma, semicolon or space separated)."""
    return [a for a in re.split(r"[,;\s]+", text.strip()) if a]


def build_message(sender: str, recipients: list[str], subject: str, text: str,
                  html: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, the HTML report preferred."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def send_message(smtp: SmtpSpec, message: EmailMessage, timeout: float = 30.0) -> None:
    """Deliver `message` through the configured server (STARTTLS and login when set)."""
    recipients = message.get_all("To", [])
    if (smtp.user or smtp.password) and not smtp.starttls:
        # validate refuses this too; the check here keeps any other caller from leaking
        raise NotifyError(f"mail to {', '.join(recipients)} via {smtp.host}:{smtp.port} not "
                          "sent: refusing to send smtp.user's credentials without TLS "
                          "(set smtp.starttls: true)")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
            client.ehlo()
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, smtp.password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(f"mail to {', '.join(recipients)} via {smtp.host}:{smtp.port} "
                          f"failed: {type(exc).__name__}: {exc}") from exc


def send_report(smtp: SmtpSpec, to: str, subject: str, text: str, html: str) -> list[str]:
    """Mail the report to the `--notify` addresses; returns them."""
    recipients = parse_recipients(to)
    if not recipients:
        raise NotifyError(f"no address in --notify {to!r}")
    send_message(smtp, build_message(smtp.sender, recipients, subject, text, html))
    return recipients
