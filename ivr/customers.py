"""The customer directory: companies and the people who call from them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

import click
from flask.cli import AppGroup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from . import calls
from .models import Contact, Customer, db

cli = AppGroup("customers", help="The customer directory: companies, contacts and their numbers.")
NAME_MAX = 200  # the columns' size


class DirectoryError(ValueError):
    """A directory entry that cannot be stored, with a message for the operator."""


def contact_for(phone: str | None) -> Contact | None:
    """Find who calls from this E.164 number."""
    if not phone:
        return None
    return db.session.execute(select(Contact).where(Contact.phone == phone)).scalar_one_or_none()


def contacts_for(phones) -> dict[str, Contact]:
    """Find who calls from each of these numbers, in one query: {phone: contact}."""
    wanted = {p for p in phones if p}
    if not wanted:
        return {}
    found = db.session.execute(select(Contact).where(Contact.phone.in_(wanted)).options(selectinload(Contact.customer))).scalars()
    return {c.phone: c for c in found}


def company_for(phone: str | None) -> str | None:
    """Name the company of the person calling from this number, if known."""
    contact = contact_for(phone)
    return contact.customer.company if contact else None


def directory(q: str = "") -> list[Customer]:
    """List companies with their contacts, by name; `q` keeps those whose company, a contact's name or number matches."""
    stmt = select(Customer).options(selectinload(Customer.contacts)).order_by(Customer.company, Customer.id)
    q = _clean(q).lower()
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        matches = [func.lower(Customer.company).contains(q, autoescape=True), func.lower(Contact.name).contains(q, autoescape=True)]
        if digits:
            matches.append(Contact.phone.contains(digits, autoescape=True))
        stmt = stmt.where(or_(*matches[:1], Customer.id.in_(select(Contact.customer_id).where(or_(*matches[1:])))))
    return list(db.session.execute(stmt).scalars())


def _clean(text: str | None) -> str:
    """Collapse whitespace and drop control characters (PostgreSQL cannot store NUL)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in (text or "")).split())


def problems(company: str | None, name: str | None, phone: str | None) -> list[str]:
    """Say what is wrong with a directory entry; an empty list means it can be stored."""
    found = []
    company, name = _clean(company), _clean(name)
    missing = [k for k, v in (("company", company), ("name", name), ("phone", (phone or "").strip())) if not v]
    if missing:
        found.append(f"no {', '.join(missing)}")
    for what, value in (("company", company), ("name", name)):
        if len(value) > NAME_MAX:
            found.append(f"{what} is longer than {NAME_MAX} characters")
    if (phone or "").strip() and calls.e164(phone) is None:
        found.append(f"{phone.strip()[:40]!r} is not a phone number")
    return found


def _customer(company: str) -> Customer:
    """Find a company by name, or add it."""
    customer = db.session.execute(select(Customer).where(Customer.company == company)).scalar_one_or_none()
    if customer is None:
        customer = Customer(company=company, notes="")
        db.session.add(customer)
    return customer


def _drop_if_empty(customer: Customer | None) -> None:
    """Remove a company whose last contact went: the directory lists companies by their people."""
    if customer is not None and customer.id is not None:
        db.session.flush()
        db.session.refresh(customer, ["contacts"])
        if not customer.contacts:
            db.session.delete(customer)


def upsert(company: str, name: str, phone: str) -> Contact:
    """Add or update one contact at a company; the number moves with the person."""
    found = problems(company, name, phone)
    if found:
        raise DirectoryError("; ".join(found))
    company, name = _clean(company), _clean(name)
    number = calls.e164(phone)
    customer = _customer(company)
    contact = contact_for(number)
    if contact is None:
        contact = Contact(phone=number, name=name, customer=customer)
        db.session.add(contact)
    else:
        previous = contact.customer if contact.customer is not customer else None
        contact.name, contact.customer = name, customer
        _drop_if_empty(previous)
    return contact


def add(company: str, name: str, phone: str) -> Contact:
    """Add a new contact; a number already in the directory is refused (edit that contact instead). Commits."""
    found = problems(company, name, phone)
    if found:
        raise DirectoryError("; ".join(found))
    other = contact_for(calls.e164(phone))
    if other is not None:
        raise DirectoryError(f"{other.phone} is already {other.name}'s number at {other.customer.company}; edit that contact instead")
    contact = upsert(company, name, phone)
    db.session.commit()
    return contact


def update(contact_id: int, company: str, name: str, phone: str) -> Contact:
    """Change one contact's company, name or number; a number another contact has is refused. Commits."""
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise DirectoryError(f"there is no contact {contact_id}")
    found = problems(company, name, phone)
    if found:
        raise DirectoryError("; ".join(found))
    number = calls.e164(phone)
    other = contact_for(number)
    if other is not None and other.id != contact.id:
        raise DirectoryError(f"{number} is already {other.name}'s number at {other.customer.company}")
    previous = contact.customer
    contact.customer = _customer(_clean(company))
    contact.name, contact.phone = _clean(name), number
    if previous is not contact.customer:
        _drop_if_empty(previous)
    db.session.commit()
    return contact


def remove(contact_id: int) -> tuple[str, str]:
    """Take a contact out of the directory, and their company with its last contact; give their name and company. Commits."""
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise DirectoryError(f"there is no contact {contact_id}")
    customer = contact.customer
    gone = (contact.name, customer.company)
    db.session.delete(contact)
    _drop_if_empty(customer)
    db.session.commit()
    return gone


def import_rows(f: TextIO) -> int:
    """Load contacts from CSV text with columns company, name, phone; all or nothing; errors name lines. Commits."""
    reader = csv.DictReader(f)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise DirectoryError(f"nothing imported:\nline {reader.line_num}: {exc}") from None
    absent = [k for k in ("company", "name", "phone") if k not in (reader.fieldnames or ())]
    if absent:
        raise DirectoryError(f"nothing imported:\nline 1: the header has no {', '.join(absent)} column (it needs company,name,phone)")
    errors = []
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        # Rows are numbered as a spreadsheet shows them (a quoted field may span lines in the file).
        for problem in problems(row.get("company"), row.get("name"), row.get("phone")):
            errors.append(f"line {i}: {problem}")
    if errors:
        raise DirectoryError("nothing imported:\n" + "\n".join(errors))
    for row in rows:
        upsert(row["company"], row["name"], row["phone"])
    db.session.commit()
    return len(rows)


def import_csv(path: str | Path) -> int:
    """Load contacts from a CSV file with columns company, name, phone; all or nothing."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return import_rows(f)


@cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_command(path: str) -> None:
    """Import contacts from a CSV file (columns: company, name, phone)."""
    try:
        count = import_csv(path)
    except DirectoryError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {count} contact(s)")


@cli.command("list")
def list_command() -> None:
    """List companies and their contacts."""
    for customer in db.session.execute(select(Customer).order_by(Customer.company)).scalars():
        click.echo(customer.company)
        for contact in customer.contacts:
            click.echo(f"  {contact.name}  {contact.phone}")
