"""Controlled records: one ``core_record`` row per item, plugin details by joined inheritance."""
