"""Where failure notices go: a file for local use and tests, or e-mail through SMTP.

Chosen by the environment: SEGMENTATION_ALERT_SENDER=file (default) or smtp. A notice holds
the job, the week, the failing step and the data-quality summary; never a client's details.
"""

import datetime as dt
import json
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str


class Sender(Protocol):
    def send(self, notice: Notice) -> None: ...


@dataclass(frozen=True)
class FileSender:
    """Appends each notice as one JSON line to a file."""

    path: Path

    def send(self, notice: Notice) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"sent_at": dt.datetime.now(dt.UTC).isoformat(), "subject": notice.subject,
                "body": notice.body}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class SmtpSender:
    """Sends each notice as an e-mail; settings and password from the environment."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    starttls: bool = True

    def send(self, notice: Notice) -> None:
        message = EmailMessage()
        message["Subject"] = notice.subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(notice.body)
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def sender_from_env(default_file: Path) -> Sender:
    """The sender the environment asks for; a clear error when its settings are incomplete."""
    kind = os.environ.get("SEGMENTATION_ALERT_SENDER", "file")
    if kind == "file":
        return FileSender(Path(os.environ.get("SEGMENTATION_ALERT_FILE", default_file)))
    if kind == "smtp":
        missing = [v for v in ("SEGMENTATION_SMTP_HOST", "SEGMENTATION_SMTP_FROM",
                               "SEGMENTATION_SMTP_TO") if not os.environ.get(v)]
        if missing:
            raise ValueError("SMTP alerts need " + ", ".join(missing))
        return SmtpSender(
            host=os.environ["SEGMENTATION_SMTP_HOST"],
            port=int(os.environ.get("SEGMENTATION_SMTP_PORT", "587")),
            sender=os.environ["SEGMENTATION_SMTP_FROM"],
            recipients=tuple(a.strip() for a in os.environ["SEGMENTATION_SMTP_TO"].split(",")),
            user=os.environ.get("SEGMENTATION_SMTP_USER"),
            password=os.environ.get("SEGMENTATION_SMTP_PASSWORD"),
            starttls=os.environ.get("SEGMENTATION_SMTP_STARTTLS", "1") != "0",
        )
    raise ValueError(f"SEGMENTATION_ALERT_SENDER={kind!r}: use 'file' or 'smtp'")
