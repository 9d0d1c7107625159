"""E-mail over SMTP, with RFC 8058 one-click unsubscribe headers, the idempotency key as Message-ID and,
for model-written copy, the AIGC metadata in an `X-AIGC` header (the header content's e-mail renderer
writes too)."""

from __future__ import annotations

import email.policy
import json
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from urllib.parse import quote

from marketpilot.campaigns.channels.base import ChannelSettings, OutgoingMessage, SendResult, register_channel
from marketpilot.config import Settings

# Failures of the server or the session, not of one message.
_SERVER_FAILURES = (
    OSError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    smtplib.SMTPAuthenticationError,
)


# Fold at SMTP's hard limit, not at 78: the default folding found no place to break the List-Unsubscribe
# value (one `<https://…?k=KEY>,` token is longer than 78) and wrote it as RFC 2047 encoded words
# (`=?utf-8?q?=3Chttps…`), which mail providers do not decode in that header, so their one-click
# unsubscribe button never appeared. Non-ASCII subjects and names are still encoded words.
_POLICY = email.policy.default.clone(max_line_length=998)
# For a server that does not advertise 8BITMIME (RFC 6152): only 7-bit data may cross it, so a UTF-8
# body is written as base64 or quoted-printable, whichever is shorter.
_POLICY_7BIT = _POLICY.clone(cte_type="7bit")


def build_email(
    message: OutgoingMessage, options: ChannelSettings, *, eight_bit: bool = True
) -> EmailMessage:
    """`eight_bit`: the server takes 8-bit bodies (it advertised 8BITMIME)."""
    mail = EmailMessage(policy=_POLICY if eight_bit else _POLICY_7BIT)
    mail["From"] = options.mail_from
    mail["To"] = message.email or ""
    # One line: a header may not hold a line break (a subject written as a YAML block, or by a model),
    # and the e-mail library refuses one with a ValueError.
    mail["Subject"] = " ".join((message.subject or message.body.strip().splitlines()[0][:60]).split())
    mail["Date"] = formatdate(localtime=False)
    # Receivers dedupe on Message-ID: a re-sent message after a crash carries the same one.
    mail["Message-ID"] = f"<{message.idempotency_key}@marketpilot>"
    mail["X-MarketPilot-Idempotency-Key"] = message.idempotency_key
    mail["X-MarketPilot-Campaign"] = f"{message.campaign_id}/v{message.version}/{message.variant_key}"
    token = quote(message.idempotency_key)
    # a URL with a query of its own (…/u?list=vip) gets the token as one more parameter
    joiner = "&" if "?" in options.unsubscribe_url else "?"
    web = f"<{options.unsubscribe_url}{joiner}k={token}>"
    mailto = f"<mailto:{options.unsubscribe_mailto}?subject=unsubscribe-{token}>"
    mail["List-Unsubscribe"] = f"{web}, {mailto}"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.aigc_metadata:
        # ASCII JSON (the shop name becomes \uXXXX escapes): no RFC 2047 encoded words for a receiver to
        # decode, and the spaces of the default separators let a long header fold.
        mail["X-AIGC"] = json.dumps(json.loads(message.aigc_metadata), ensure_ascii=True)
    mail.set_content(message.body, charset="utf-8")
    return mail


def _body_options(mail: EmailMessage, eight_bit: bool) -> tuple[str, ...]:
    """RFC 6152: an 8-bit body is declared on MAIL FROM, not only in its own headers. smtplib declares
    it itself for non-ASCII addresses (with SMTPUTF8), and a second BODY= would be refused."""
    addresses = "".join(address for _, address in getaddresses([mail["From"], mail["To"]]))
    return ("BODY=8BITMIME",) if eight_bit and addresses.isascii() else ()


class SmtpChannel:
    name = "email"
    customer_facing = True
    batch_size = 50

    def __init__(self, settings: Settings, options: ChannelSettings) -> None:
        self.options = options
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.options.smtp_host, self.options.smtp_port, timeout=30)
            if self.options.smtp_starttls:
                smtp.starttls()
            if self.options.smtp_user and self.options.smtp_password:
                smtp.login(self.options.smtp_user, self.options.smtp_password.get_secret_value())
            smtp.ehlo_or_helo_if_needed()  # its extensions (8BITMIME) decide how bodies are encoded
            self._smtp = smtp
        return self._smtp

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        results = []
        where = f"SMTP {self.options.smtp_host}:{self.options.smtp_port}"
        for message in messages:
            if not message.email:
                results.append(SendResult(message.idempotency_key, False, "no e-mail address"))
                continue
            try:
                smtp = self._connection()
                eight_bit = smtp.has_extn("8bitmime")
                try:
                    mail = build_email(message, self.options, eight_bit=eight_bit)
                except ValueError as exc:  # an address with a line break in it, say: this message's fault
                    results.append(SendResult(message.idempotency_key, False, f"not a valid e-mail: {exc}"))
                    continue
                smtp.send_message(mail, mail_options=_body_options(mail, eight_bit))
                results.append(SendResult(message.idempotency_key, True))
            except smtplib.SMTPRecipientsRefused as exc:
                # This address refused; the server works.
                results.append(SendResult(message.idempotency_key, False, f"{where}: {exc}"))
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                code = getattr(exc, "smtp_code", None)
                # Down, refusing us, or a 4xx "try again later": the next message would fare no better.
                outage = isinstance(exc, _SERVER_FAILURES) or (isinstance(code, int) and 400 <= code < 500)
                results.append(SendResult(message.idempotency_key, False, f"{where}: {exc}", outage=outage))
                if outage:
                    break
        return results

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


register_channel("email")(SmtpChannel)
