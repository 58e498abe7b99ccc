"""Response cache: exact and semantic lookup before routing, filled from upstream answers."""
