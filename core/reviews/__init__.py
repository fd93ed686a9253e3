"""Periodic reviews (A11-09, E6-17, E6-24): the audit-trail review and the user-access review
as scheduled, signed records. A sweep opens one of each kind when the last is older than its
period, with a snapshot of what to review and a task for the QA manager; the reviewer records
the outcome and signs ("Reviewed by"). An overdue review shows among the overdue tasks."""
