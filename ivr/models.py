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
    # Keyset pages of the call log order by (started_at, id): see migration 0005.
    __table_args__ = (Index("ix_calls_started_id", "started_at", "id"),)

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
    # Self-service: the caller's language, an existing ticket this call is
    # about (a known caller), and a ticket number keyed in for its status.
    language: Mapped[str] = mapped_column(String(8), default="en")
    about_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", name="fk_calls_about_ticket", use_alter=True), index=True)
    lookup_number: Mapped[int | None] = mapped_column()
    # Set once the caller proved the looked-up ticket is theirs (their number or its PIN).
    lookup_verified: Mapped[bool] = mapped_column(default=False)

    agent: Mapped[Staff | None] = relationship(foreign_keys=[agent_id])
    # The ticket this call opened (tickets.call_id); see about_ticket_id for the other link.
    ticket: Mapped[Ticket | None] = relationship(back_populates="call", uselist=False, foreign_keys="Ticket.call_id")
    # The caller's earlier ticket this call continued (a known caller), if any.
    about_ticket: Mapped[Ticket | None] = relationship(foreign_keys=[about_ticket_id])

    @property
    def ticket_for_log(self) -> Ticket | None:
        """Give the ticket this call belongs to: the one it opened, or the one it continued."""
        return self.ticket or self.about_ticket

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
    # Indexes for the caller's open ticket (every incoming call), tickets awaiting
    # a first response by due time, tickets of a state by due time, and keyset
    # pages: see migration 0005.
    __table_args__ = (
        Index("ix_tickets_caller_opened", "caller", "opened_at"),
        Index("ix_tickets_first_response_due", "first_response_at", "due_at"),
        Index("ix_tickets_state_due", "state", "due_at", "id"),
        Index("ix_tickets_opened_id", "opened_at", "id"),
    )

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

    # Self-service: the caller's language, a PIN for status by phone, whether
    # they asked for texts on changes, and their company from the directory.
    language: Mapped[str] = mapped_column(String(8), default="en")
    pin: Mapped[str] = mapped_column(String(8), default="")
    wants_updates: Mapped[bool] = mapped_column(default=False)
    company: Mapped[str | None] = mapped_column(String(200))

    call: Mapped[Call] = relationship(back_populates="ticket", foreign_keys=[call_id])
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


class User(db.Model):
    """A person who signs in to the console or calls the API: a supervisor or an agent."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default="agent")  # supervisor, agent
    # The roster entry of an agent: their tickets are the ones assigned to it.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failed sign-ins since the last good one; refused until `locked_until` passes.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    staff: Mapped[Staff | None] = relationship()
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan", order_by="ApiToken.id")

    @property
    def is_supervisor(self) -> bool:
        """Tell whether this user may change things."""
        return self.role == "supervisor"

    # What Flask-Login asks of a signed-in user.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        """Tell whether this account may sign in."""
        return self.active

    def get_id(self) -> str:
        """Give the id kept in the session."""
        return str(self.id)


class ApiToken(db.Model):
    """A bearer token for the API, kept only as a hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: tokens are long and random, so no slow hash is needed.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in `users list` to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class TicketChange(db.Model):
    """One change made to a ticket by a person, or a note: the ticket's history."""

    __tablename__ = "ticket_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Who, as they were known then: the history keeps its names if the account goes.
    actor: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(16))  # responded, resolved, reopened, reassigned, note
    detail: Mapped[str] = mapped_column(String(500), default="")
    note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship()


class ClosureEntry(db.Model):
    """A closure a supervisor added in the console: support is closed from start to end."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a supervisor ends the closure early (or cancels one not yet begun).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(254))

    @property
    def effective_end(self) -> datetime:
        """Give when the closure stops: its end, or when it was ended early."""
        return min(self.end, self.ended_at) if self.ended_at else self.end


class Customer(db.Model):
    """A customer company from the directory."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    company: Mapped[str] = mapped_column(String(200), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")

    contacts: Mapped[list[Contact]] = relationship(back_populates="customer", cascade="all, delete-orphan", order_by="Contact.name")


class Contact(db.Model):
    """A person at a customer, known by the number they call from."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32), unique=True)  # E.164

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class SmsOptOut(db.Model):
    """A number that replied STOP (Twilio error 21610): never texted again."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackRequest(db.Model):
    """A caller who chose to be called back rather than wait."""

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    # One request per call, however often the caller's key press is repeated.
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), unique=True)
    phone: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(default=0)  # lower is served first
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default="waiting", index=True)  # waiting, calling, done, failed
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    attempts: Mapped[int] = mapped_column(default=0)
    callback_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_error: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship()
    agent: Mapped[Staff | None] = relationship()
