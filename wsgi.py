"""The WSGI entry point for gunicorn and the flask CLI."""

from ivr import create_app

app = create_app()
