"""Quality events and CAPA

Deviations, complaints and other quality events; investigations and root cause; corrective
and preventive actions with effectiveness checks.
"""
