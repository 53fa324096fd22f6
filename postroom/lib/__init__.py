"""Small Django-free helpers, each with its own tests."""
