"""Declarative workflows and the one service that changes a record's state."""
