"""People's picks: every candidate kept in SQLite (db), a page to compare them (web), a
reward model that learns the picks (reward), preference tuning towards it (tune) behind
sign guards (guards), and the best-of set (export)."""
