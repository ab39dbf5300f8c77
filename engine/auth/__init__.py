"""Users, passwords, roles and login tokens."""
