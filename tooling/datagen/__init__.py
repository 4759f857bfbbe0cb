"""Realistic, deterministic customer data at any size (``manage.py generate_data``).

``generator`` makes rows without touching the database, ``rows`` knows the tables and
their COPY / ORM forms, ``loader`` reserves ids and loads (COPY on PostgreSQL).
"""
