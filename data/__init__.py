"""certpush's core: models, database, services and queries. No Dash import below here."""
