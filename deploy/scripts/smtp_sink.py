"""A real SMTP server (aiosmtpd) that stores every message it accepts in a Maildir.

It behaves like a mail provider that honours Message-ID as an idempotency key: a message
whose Message-ID it already holds is acknowledged and not stored again (and counted in
<maildir>/folded). For tests it can inject faults: a 451 reply to every Nth message and a
dropped connection on every Mth.

Usage: python smtp_sink.py <maildir> <port> [--fail-every N] [--drop-every M]
"""

import argparse
import asyncio
import mailbox
import os
from email import message_from_bytes
from email.policy import compat32

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, maildir, fail_every, drop_every):
        self.box = mailbox.Maildir(maildir, create=True)
        self.root = maildir
        self.fail_every = fail_every
        self.drop_every = drop_every
        self.count = 0
        self.seen = set()
        for key in self.box.keys():
            message_id = self.box[key].get("Message-ID")
            if message_id:
                self.seen.add(message_id.strip())

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        if self.drop_every and self.count % self.drop_every == 0:
            # The connection dies before any answer: the client cannot know the outcome.
            server.transport.abort()
            return "421 4.3.0 connection dropped"
        if self.fail_every and self.count % self.fail_every == 0:
            return "451 4.3.0 temporary failure, try again later"
        message = message_from_bytes(envelope.content, policy=compat32)
        message_id = (message.get("Message-ID") or "").strip()
        if message_id and message_id in self.seen:
            with open(os.path.join(self.root, "folded"), "a") as folded:
                folded.write(message_id + "\n")
            return "250 2.0.0 OK (duplicate Message-ID folded)"
        message["X-MailFrom"] = envelope.mail_from
        message["X-RcptTo"] = ", ".join(envelope.rcpt_tos)
        self.box.add(message)
        if message_id:
            self.seen.add(message_id)
        return "250 2.0.0 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("maildir")
    parser.add_argument("port", type=int)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--drop-every", type=int, default=0)
    args = parser.parse_args()
    controller = Controller(
        Sink(args.maildir, args.fail_every, args.drop_every),
        hostname="127.0.0.1",
        port=args.port,
    )
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
