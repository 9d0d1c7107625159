"""E-mail over SMTP, with RFC 8058 one-click unsubscribe headers, the idempotency key as Message-ID and,
for model-written copy, the AIGC metadata in an `X-AIGC` header (the header content's e-mail renderer
writes too)."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import quote

from marketpilot.campaigns.channels.base import ChannelSettings, OutgoingMessage, SendResult, register_channel
from marketpilot.config import Settings


def build_email(message: OutgoingMessage, options: ChannelSettings) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = options.mail_from
    mail["To"] = message.email or ""
    mail["Subject"] = message.subject or message.body.splitlines()[0][:60]
    mail["Date"] = formatdate(localtime=False)
    # Receivers dedupe on Message-ID: a re-sent message after a crash carries the same one.
    mail["Message-ID"] = f"<{message.idempotency_key}@marketpilot>"
    mail["X-MarketPilot-Idempotency-Key"] = message.idempotency_key
    mail["X-MarketPilot-Campaign"] = f"{message.campaign_id}/v{message.version}/{message.variant_key}"
    token = quote(message.idempotency_key)
    web = f"<{options.unsubscribe_url}?k={token}>"
    mailto = f"<mailto:{options.unsubscribe_mailto}?subject=unsubscribe-{token}>"
    mail["List-Unsubscribe"] = f"{web}, {mailto}"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.aigc_metadata:
        # ASCII JSON (the shop name becomes \uXXXX escapes): no RFC 2047 encoded words for a receiver to
        # decode, and the spaces of the default separators let the header fold at 78 columns.
        mail["X-AIGC"] = json.dumps(json.loads(message.aigc_metadata), ensure_ascii=True)
    mail.set_content(message.body, charset="utf-8")
    return mail


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
            self._smtp = smtp
        return self._smtp

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            if not message.email:
                results.append(SendResult(message.idempotency_key, False, "no e-mail address"))
                continue
            try:
                self._connection().send_message(build_email(message, self.options))
                results.append(SendResult(message.idempotency_key, True))
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                results.append(SendResult(message.idempotency_key, False, f"SMTP: {exc}"))
        return results

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


register_channel("email")(SmtpChannel)
