"""Notifications: in-app messages with an e-mail outbox, and the reminder sweeps that queue them."""
