"""``manage.py bench``: every benchmark against PostgreSQL, each with its raw baseline.

``harness`` (scales, results, table, results.json), ``baseline`` (plain psycopg helpers),
and one module per benchmark, run in this order: ``load`` (a), ``ingest`` (b),
``page360`` (c), ``segments`` (d), ``nps`` (e).
"""
