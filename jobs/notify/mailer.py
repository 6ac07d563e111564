"""E-mail through the mail server named by CERTPUSH_SMTP_URL, with the standard library.

``smtp://host:port`` speaks plain SMTP (port 25 by default), ``smtp+starttls://`` upgrades
with STARTTLS (587), ``smtps://user:password@host:port`` uses TLS from the first byte (465);
a user and password, when given, log in. One ``Mailer`` holds one connection for a whole
batch of messages (the notifier sends many at once) and opens it again when it drops.

The URL's password is never put in an error, a log line or a repr: errors name the
server by host and port only.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

from data.domain.errors import CertpushError
from data.domain.notifications import check_email

TIMEOUT_SECONDS = 10.0
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
_MIME = {
    ".pdf": ("application", "pdf"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".csv": ("text", "csv"),
}


class MailError(CertpushError):
    """A message did not go; the text names the server by host:port, never its password.

    ``permanent``: sending it again cannot help (the server refused this recipient).
    ``connection``: the server itself is unusable (down, refused the login), so the rest
    of a batch would fail the same way.
    """

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection


@dataclass(frozen=True)
class MailServer:
    """CERTPUSH_SMTP_URL, parsed. ``repr`` leaves the password out."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_smtp_url(url: str) -> MailServer:
    """Check and split CERTPUSH_SMTP_URL; the error says what is expected, not the URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise MailError(
            "CERTPUSH_SMTP_URL must be smtp://host:port, smtp+starttls://host:port or "
            f"smtps://user:password@host:port (the scheme was {scheme or 'missing'!r})",
            connection=True,
        )
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise MailError(
            "CERTPUSH_SMTP_URL has a port that is not a number", connection=True
        ) from None
    if not parts.hostname:
        raise MailError("CERTPUSH_SMTP_URL names no host", connection=True)
    return MailServer(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True)
class Attachment:
    path: Path
    name: str


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    attachments: list[Attachment] | tuple[Attachment, ...] = (),
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML), inside a multipart/mixed
    one when files travel with it. ``subject`` must already be one line (render.header_safe);
    the addresses are checked here, so no header can carry a second one."""
    message = EmailMessage()
    message["From"] = check_email(sender)
    message["To"] = check_email(recipient)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, subtype = _MIME.get(
            attachment.path.suffix.lower(), ("application", "octet-stream")
        )
        message.add_attachment(
            attachment.path.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=attachment.name,
        )
    return message


class Mailer:
    """One SMTP connection, opened on the first message and kept for the next ones.

    Use as a context manager; ``send`` raises MailError. After a failure the connection is
    dropped and the next ``send`` connects again."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT_SECONDS):
        self.server = parse_smtp_url(url)
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        where = server.where
        try:
            if server.scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self.timeout,
                    context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
            try:
                smtp.ehlo()
                if server.scheme == "smtp+starttls":
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if server.username:
                    smtp.login(server.username, server.password or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"the mail server {where} refused the login of user {server.username!r} "
                f"({exc.smtp_code})",
                connection=True,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailError(
                f"the mail server {where} does not offer STARTTLS or login", connection=True
            ) from None
        except ssl.SSLError as exc:
            raise MailError(
                f"TLS with the mail server {where} failed ({exc.reason or type(exc).__name__})",
                connection=True,
            ) from None
        except ConnectionRefusedError:
            raise MailError(
                f"the mail server {where} refused the connection", connection=True
            ) from None
        except TimeoutError:
            raise MailError(
                f"the mail server {where} did not answer within {self.timeout:g} s", connection=True
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                f"cannot talk to the mail server {where} ({_reason(exc)})", connection=True
            ) from None
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Send one message to its To address (the envelope names only that one)."""
        where = self.server.where
        reused = self._smtp is not None
        if self._smtp is None:
            self._smtp = self._connect()
        recipient = str(message["To"])
        try:
            try:
                refused = self._smtp.send_message(message, to_addrs=[recipient])
            except smtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                # The server closed the kept connection (an idle timeout): once more, anew.
                self._drop()
                self._smtp = self._connect()
                refused = self._smtp.send_message(message, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()), (0, b""))[0]
            self._reset()
            raise MailError(
                f"the mail server {where} refused the recipient ({code})", permanent=code >= 500
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            self._reset()
            raise MailError(
                f"the mail server {where} refused the sender address ({exc.smtp_code}): "
                "check CERTPUSH_MAIL_FROM",
                connection=True,
            ) from None
        except smtplib.SMTPDataError as exc:
            self._reset()
            raise MailError(
                f"the mail server {where} refused the message ({exc.smtp_code})",
                permanent=exc.smtp_code >= 500,
            ) from None
        except TimeoutError:
            self._drop()
            raise MailError(
                f"the mail server {where} did not answer within {self.timeout:g} s"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise MailError(
                f"the mail server {where} dropped the message ({_reason(exc)})"
            ) from None
        if refused:
            raise MailError(f"the mail server {where} refused the recipient", permanent=True)

    def _reset(self) -> None:
        """After a refused transaction the connection stays usable once reset."""
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _reason(exc: BaseException) -> str:
    """An exception's class and code, not its text (which may quote the server)."""
    code = getattr(exc, "smtp_code", None) or getattr(exc, "errno", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"
