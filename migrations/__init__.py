"""The Alembic environment `pgunify schema` installs into an application (package data)."""
