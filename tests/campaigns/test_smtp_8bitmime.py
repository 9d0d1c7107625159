"""A body in UTF-8 goes out as 8bit only to a server that advertises 8BITMIME (RFC 6152); to one that
does not, it is encoded to 7-bit (base64 or quoted-printable), which every server must carry."""

from __future__ import annotations

import email
import email.policy

import pytest
from receivers import SmtpReceiver

from marketpilot.campaigns.channels import ChannelSettings, OutgoingMessage
from marketpilot.campaigns.channels.smtp import SmtpChannel
from marketpilot.config import Settings

BODY = "王女士您好，新春全场8折，欢迎回店。Ünïcödé too.\n"


def _deliver(settings: Settings, server: SmtpReceiver, message: OutgoingMessage):  # type: ignore[no-untyped-def]
    """Send one message through the e-mail channel to `server`; the one envelope it received."""
    try:
        channel = SmtpChannel(settings, ChannelSettings(smtp_host="127.0.0.1", smtp_port=server.port))
        try:
            assert [r.ok for r in channel.send([message])] == [True]
        finally:
            channel.close()
    finally:
        server.close()
    [envelope] = server.envelopes
    return envelope


@pytest.mark.parametrize("eight_bit_mime", [True, False])
def test_the_body_encoding_follows_what_the_server_advertises(
    settings: Settings, eight_bit_mime: bool
) -> None:
    message = OutgoingMessage("k-1", "c", 1, "C1", "email", "A", BODY, subject="新春", email="wang@b.cn")
    envelope = _deliver(settings, SmtpReceiver(eight_bit_mime=eight_bit_mime), message)
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail.get_content().splitlines() == BODY.splitlines() and mail["Subject"] == "新春"
    if eight_bit_mime:
        assert mail["Content-Transfer-Encoding"] == "8bit" and "BODY=8BITMIME" in envelope.mail_options
    else:
        assert envelope.content.isascii(), "8-bit data sent to a server without 8BITMIME"
        assert mail["Content-Transfer-Encoding"] in ("base64", "quoted-printable")
        assert "BODY=8BITMIME" not in envelope.mail_options


def test_an_international_address_declares_the_8bit_body_once(settings: Settings) -> None:
    """smtplib adds SMTPUTF8 and BODY=8BITMIME itself for a non-ASCII address: a second BODY= on the
    same MAIL FROM would be a syntax error to the server."""
    message = OutgoingMessage("k-2", "c", 1, "C2", "email", "A", BODY, subject="新春", email="王@例子.cn")
    envelope = _deliver(settings, SmtpReceiver(), message)
    assert envelope.rcpt_tos == ["王@例子.cn"] and envelope.mail_options.count("BODY=8BITMIME") == 1
