"""Training

Curricula by role, study and site; automatic assignments; read-and-understood with
e-signature; the training matrix and qualification checks.
"""
