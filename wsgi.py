"""WSGI entry point for gunicorn and ``flask --app wsgi``."""
from app import create_app
from app.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    raise SystemExit(f"tenantgate: bad setting {exc}") from None
