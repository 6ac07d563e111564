"""Pure rules: no SQLAlchemy, no Dash, no I/O. Time is always passed in."""
