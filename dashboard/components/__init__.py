"""Reusable layout blocks. Pure functions of their arguments: no database, no request."""
