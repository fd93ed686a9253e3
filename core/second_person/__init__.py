"""Second-person verification of critical data (EU Annex 11 §6, A11-05): see ``service``."""
