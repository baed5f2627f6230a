"""The call log: calls, their events, tickets and recordings."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, Time, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Ticket numbers are the row id plus this, so callers hear four digits from the
# first ticket on ("1 0 0 1") and numbers stay unique under concurrent calls.
TICKET_NUMBER_OFFSET = 1000
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def utcnow() -> datetime:
    """Give the current instant in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Store instants as UTC and always read them back timezone-aware.

    SQLite keeps no zone, so without this a value would come back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Convert to UTC on the way in."""
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        """Attach UTC on the way out."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base for every model."""


db = SQLAlchemy(model_class=Base)


class Call(db.Model):
    """One phone call, one row, keyed by Twilio's CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_raw: Mapped[str] = mapped_column(String(255), default="")
    from_e164: Mapped[str | None] = mapped_column(String(32), index=True)
    caller_name: Mapped[str | None] = mapped_column(String(255))
    to_number: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Where the caller is in the flow, and how often they failed the current menu.
    node: Mapped[str | None] = mapped_column(String(64))
    menu_attempts: Mapped[int] = mapped_column(default=0)
    # Menus served in this call: bounds loops a caller could drive forever.
    prompts: Mapped[int] = mapped_column(default=0)
    level: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(32), default="ringing")
    status_sequence: Mapped[int] = mapped_column(default=-1)
    duration: Mapped[int | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_test: Mapped[bool] = mapped_column(default=False)
    # Routing facts, each written once by the webhook that learns it; the
    # outcome is derived from them, so callbacks may arrive in any order.
    ringing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dial_rounds: Mapped[int] = mapped_column(default=0)
    dial_status: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    talk_seconds: Mapped[int | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(32), index=True)

    agent: Mapped[Staff | None] = relationship(foreign_keys=[agent_id])
    ticket: Mapped[Ticket | None] = relationship(back_populates="call", uselist=False)
    events: Mapped[list[CallEvent]] = relationship(back_populates="call", order_by="CallEvent.id")
    recordings: Mapped[list[Recording]] = relationship(back_populates="call", order_by="Recording.id")

    @property
    def caller(self) -> str:
        """Give the caller's number as E.164 when known, else what Twilio sent."""
        return self.from_e164 or self.from_raw


class CallEvent(db.Model):
    """One webhook received for a call: the trail a supervisor reads."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    endpoint: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")


class Ticket(db.Model):
    """A trouble ticket, opened by the call that chose its level."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One ticket per call, however often Twilio repeats the level choice.
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), unique=True)
    level: Mapped[str] = mapped_column(String(32), index=True)
    caller: Mapped[str] = mapped_column(String(255), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)

    call: Mapped[Call] = relationship(back_populates="ticket")
    assignee: Mapped[Staff | None] = relationship()
    recordings: Mapped[list[Recording]] = relationship(back_populates="ticket", order_by="Recording.id")

    @property
    def number(self) -> int:
        """Give the number callers and staff use for this ticket."""
        return self.id + TICKET_NUMBER_OFFSET

    @staticmethod
    def id_for_number(number: int) -> int:
        """Turn a ticket number back into its row id."""
        return number - TICKET_NUMBER_OFFSET


class Recording(db.Model):
    """A voicemail or call recording, with its transcript."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    url: Mapped[str] = mapped_column(String(500), default="")
    duration: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="in-progress")
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Archive of the audio in RECORDINGS_DIR: pending until downloaded.
    archive_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    archive_path: Mapped[str | None] = mapped_column(String(500))
    archive_attempts: Mapped[int] = mapped_column(default=0)
    archive_error: Mapped[str | None] = mapped_column(String(500))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    call: Mapped[Call] = relationship(back_populates="recordings")
    ticket: Mapped[Ticket | None] = relationship(back_populates="recordings")


class Staff(db.Model):
    """A person who takes calls: support staff or an engineer."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    phone: Mapped[str] = mapped_column(String(32))  # E.164
    team: Mapped[str] = mapped_column(String(16), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # A supervisor's hand: True on duty, False off duty, until the given instant.
    duty_override: Mapped[bool | None] = mapped_column()
    override_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When they last took a call: the longest idle is rung first.
    last_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    shifts: Mapped[list[Shift]] = relationship(back_populates="staff", cascade="all, delete-orphan", order_by="Shift.id")


class Shift(db.Model):
    """A weekly shift in the support time zone; an end before the start runs past midnight."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column()  # 0 = Monday
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)

    staff: Mapped[Staff] = relationship(back_populates="shifts")


class RingAttempt(db.Model):
    """An agent who picked up a call's whisper, and what they did."""

    __tablename__ = "ring_attempts"
    __table_args__ = (Index("ix_ring_attempts_call_staff", "call_id", "staff_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    leg_sid: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(String(16), default="whisper")  # whisper, accepted, rejected
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TextMessage(db.Model):
    """An SMS the line sends (on-call alerts), kept until Twilio accepts it."""

    __tablename__ = "text_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    to: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32), default="on_call_alert")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    twilio_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
