"""Accounts: users, roles, permissions, scoped role assignments, sessions and passwords."""
