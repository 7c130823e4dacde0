"""The app with the policy tests' spending routes, for gunicorn (tests.policy.spend_wsgi:app)."""
from app import create_app
from app.runtime import register_tenant_blueprint
from tests.policy.routes import spend_blueprint

app = create_app()
register_tenant_blueprint(app, spend_blueprint())
