"""The Alembic environment `unify schema` installs into an application (package data)."""
