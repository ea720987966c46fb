"""Postgres access shared by the services: the pool (pgvector registered), tenant transactions, migrations."""
