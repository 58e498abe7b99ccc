"""Request understanding: turn wire bytes into typed facts."""
