"""The mailer against a real SMTP server (aiosmtpd on 127.0.0.1): one connection for many
messages, text and HTML parts, a Message-ID per delivery, and errors that say what went
wrong without the password."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import AuthResult

from jobs.notify.mailer import Attachment, Mailer, MailError, build_message, parse_smtp_url
from tests.notify_servers import TestSmtpServer
from tests.servers import free_port

PASSWORD = "pa55-w0rd-9931"


def message(to: str, n: int = 1, attachments=()):
    return build_message(sender="certpush@example.org", recipient=to, subject=f"[certpush] {n}",
                         text=f"text {n}\n", html=f"<p>html {n}</p>",
                         message_id=f"<certpush-delivery-{n}@certpush>",
                         attachments=attachments)  # fmt: skip


@pytest.fixture
def smtp():
    server = TestSmtpServer().start()
    yield server
    server.stop()


def test_many_messages_over_one_connection_with_both_parts(smtp, tmp_path, monkeypatch):
    import smtplib

    connects = []
    real = smtplib.SMTP.connect

    def counted(self, *args, **kwargs):
        connects.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", counted)
    pdf = tmp_path / "week.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    with Mailer(smtp.url) as mailer:
        for n in range(1, 4):
            mailer.send(message(f"u{n}@example.org", n, [Attachment(pdf, "week.pdf")] * (n == 3)))
    assert len(connects) == 1
    received = smtp.wait_count(3)
    assert [r.envelope_to for r in received] == [(f"u{n}@example.org",) for n in range(1, 4)]
    first = received[0]
    assert first.message_id == "<certpush-delivery-1@certpush>"
    assert first.message.get_content_type() == "multipart/alternative"
    assert first.part("text/plain").strip() == "text 1"
    assert first.part("text/html").strip() == "<p>html 1</p>"
    assert str(first.message["Auto-Submitted"]) == "auto-generated"
    assert received[2].message.get_content_type() == "multipart/mixed"
    assert received[2].attachments() == {"week.pdf": b"%PDF-1.4 test"}


def test_login_works_and_a_refused_login_never_shows_the_password():
    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.password == PASSWORD.encode(), handled=False)

    server = TestSmtpServer(authenticator=authenticator, auth_require_tls=False).start()
    try:
        with Mailer(f"smtp://mailer:{PASSWORD}@127.0.0.1:{server.port}") as mailer:
            mailer.send(message("a@example.org"))
        assert len(server.wait_count(1)) == 1
        wrong = f"smtp://mailer:wrong-{PASSWORD}@127.0.0.1:{server.port}"
        with Mailer(wrong) as mailer, pytest.raises(MailError) as failed:
            mailer.send(message("a@example.org", 2))
    finally:
        server.stop()
    assert failed.value.connection and "refused the login of user 'mailer'" in str(failed.value)
    assert PASSWORD not in str(failed.value) and PASSWORD not in repr(mailer.server)


def test_a_refused_recipient_is_permanent_and_the_connection_goes_on(smtp):
    smtp.refuse.add("gone@example.org")
    with Mailer(smtp.url) as mailer:
        with pytest.raises(MailError) as refused:
            mailer.send(message("gone@example.org"))
        mailer.send(message("here@example.org", 2))
    assert refused.value.permanent and not refused.value.connection
    assert "refused the recipient (550)" in str(refused.value)
    assert [r.envelope_to for r in smtp.wait_count(1)] == [("here@example.org",)]


def test_a_server_that_is_down_is_a_connection_error_naming_host_and_port():
    port = free_port()
    url = f"smtps://user:{PASSWORD}@127.0.0.1:{port}"
    with Mailer(url, timeout=2) as mailer, pytest.raises(MailError) as down:
        mailer.send(message("a@example.org"))
    assert down.value.connection and not down.value.permanent
    assert str(down.value) == f"the mail server 127.0.0.1:{port} refused the connection"


def test_implicit_tls_refuses_a_server_it_cannot_verify(tmp_path):
    """smtps:// verifies the server's certificate: a self-signed one is refused (the
    message and the password never go in the clear or to an impostor)."""
    import ssl

    from tests.servers import make_cert_files

    cert, key, _ = make_cert_files(tmp_path, "mail.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    from aiosmtpd.controller import Controller

    from tests.notify_servers import _Handler

    box = TestSmtpServer()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=box.port,
                            ssl_context=context)  # fmt: skip
    controller.start()
    try:
        url = f"smtps://u:{PASSWORD}@127.0.0.1:{box.port}"
        with Mailer(url, timeout=5) as mailer, pytest.raises(MailError, match="TLS with") as failed:
            mailer.send(message("a@example.org"))
    finally:
        controller.stop()
    assert PASSWORD not in str(failed.value) and box.received() == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", ("smtp", "mail.example", 25, None)),
        ("smtp+starttls://mail.example", ("smtp+starttls", "mail.example", 587, None)),
        ("smtps://u%40x:p%3Aw@mail.example:2465", ("smtps", "mail.example", 2465, "u@x")),
    ],
)
def test_smtp_urls(url, expected):
    server = parse_smtp_url(url)
    assert (server.scheme, server.host, server.port, server.username) == expected
    assert "p:w" not in repr(server)


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://h:port"])
def test_bad_smtp_urls_say_what_is_expected_without_echoing(url):
    with pytest.raises(MailError) as bad:
        parse_smtp_url(url.replace("h:port", f"u:{PASSWORD}@h:port"))
    assert "CERTPUSH_SMTP_URL" in str(bad.value) and PASSWORD not in str(bad.value)
