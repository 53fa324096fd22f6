"""Users, departments, roles, API tokens and the audit log."""
