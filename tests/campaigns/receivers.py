"""Real receivers on 127.0.0.1 for channel tests: an HTTP gateway that verifies signatures and dedupes
by Idempotency-Key (as a real SMS gateway would), and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from marketpilot.campaigns.channels.webhook import verify


class Gateway:
    """`fail_after`: accept that many POSTs, then answer `fail_status` (a gateway breaking mid-run);
    `delay_s`: wait that long before answering (a gateway timing out)."""

    def __init__(self, secret: bytes, port: int = 0) -> None:
        self.secret = secret
        self.fail_after: int | None = None
        self.fail_status = 500
        self.delay_s = 0.0
        self.posts: list[dict] = []  # every request, duplicates included
        self.accepted: dict[str, dict] = {}  # first delivery per idempotency key
        self.bad_signatures = 0
        lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(
                    gateway.secret,
                    self.headers["X-MarketPilot-Timestamp"],
                    body,
                    self.headers["X-MarketPilot-Signature"],
                )
                payload = json.loads(body)
                messages = payload["messages"] if "messages" in payload else [payload["message"]]
                time.sleep(gateway.delay_s)
                with lock:
                    if not ok:
                        gateway.bad_signatures += 1
                    gateway.posts.append({"headers": dict(self.headers), "payload": payload})
                    broken = gateway.fail_after is not None and len(gateway.posts) > gateway.fail_after
                    if not broken:
                        for m in messages:
                            gateway.accepted.setdefault(m["idempotency_key"], m)
                self.send_response(gateway.fail_status if broken else 200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpReceiver:
    """An SMTP server (aiosmtpd) on 127.0.0.1 collecting envelopes; `eight_bit_mime=False` leaves
    8BITMIME out of its EHLO answer, as some relays do, so only 7-bit bodies are acceptable to it."""

    def __init__(self, *, eight_bit_mime: bool = True) -> None:
        from aiosmtpd.controller import Controller

        self.envelopes: list = []
        self.eight_bit_mime = eight_bit_mime
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        session.host_name = hostname
        return [r for r in responses if self.eight_bit_mime or r != "250-8BITMIME"]

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.envelopes.append(envelope)
        return "250 OK"

    def close(self) -> None:
        self.controller.stop()
