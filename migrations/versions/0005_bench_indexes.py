"""bench indexes: what the webhooks and the console need at a million calls

Revision ID: 0005_bench_indexes
Revises: 0004_self_service
Create Date: 2026-11-26 18:10:00

Each index is named for the query it serves; docs/benchmarks.md shows the
plans before and after.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0005_bench_indexes"
down_revision = "0004_self_service"
branch_labels = None
depends_on = None


def upgrade():
    # Every incoming call asks for the caller's open ticket (tickets.open_for_caller):
    # without this it reads every ticket.
    op.create_index("ix_tickets_caller_opened", "tickets", ["caller", "opened_at"])
    # Tickets still waiting for a first response, by due time: the overview's
    # overdue and at-risk counts and the SLA filters.
    op.create_index("ix_tickets_first_response_due", "tickets", ["first_response_at", "due_at"])
    # Tickets in one state, soonest due first (the tickets page's "due" order).
    op.create_index("ix_tickets_state_due", "tickets", ["state", "due_at", "id"])
    # Keyset pages order by (time, id); PostgreSQL needs the id in the index to
    # read a page straight off it (SQLite's indexes carry the rowid anyway).
    op.create_index("ix_calls_started_id", "calls", ["started_at", "id"])
    op.create_index("ix_tickets_opened_id", "tickets", ["opened_at", "id"])


def downgrade():
    op.drop_index("ix_tickets_opened_id", table_name="tickets")
    op.drop_index("ix_calls_started_id", table_name="calls")
    op.drop_index("ix_tickets_state_due", table_name="tickets")
    op.drop_index("ix_tickets_first_response_due", table_name="tickets")
    op.drop_index("ix_tickets_caller_opened", table_name="tickets")
