"""The service's database: the embedded PostgreSQL it starts when ``DATABASE_URL`` is unset, and its migrations."""
