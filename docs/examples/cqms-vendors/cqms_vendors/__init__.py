"""Vendor qualification

The vendors (CROs, labs, couriers) a sponsor relies on: each is qualified with an electronic
signature and re-qualified before its qualification runs out. The example in-house plugin of
the plugin author guide: start from `cqms plugins new`, then shape it like this.
"""
