"""`pgunify schema`: the whole schema of an application as one SQLAlchemy MetaData under Alembic.

Data flows one way: scan facts -> legacy DDL applied to a scratch database and reflected,
ORM metadata probed in a subprocess -> a Core tables module and an Alembic baseline.
"""
