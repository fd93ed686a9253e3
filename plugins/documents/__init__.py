"""Document control

Controlled documents (SOPs, work instructions, forms, policies, study plans and documents of
external origin) with versions, review and approval signatures, effective dates and periodic
review.
"""
