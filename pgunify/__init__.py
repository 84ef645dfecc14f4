"""pgunify: move raw-SQL asyncpg repositories onto one shared SQLAlchemy Core async engine."""

__version__ = "0.1.0"
