"""Periodic reviews (A11-09, A11-11, E6-17, E6-23, E6-24): the audit-trail review (global, and
per study on an administrator's plan), the user-access review (decided line by line) and the
system review, as scheduled, signed records. A sweep opens each when the last is older than
its period, with a snapshot of what to review and a task for the QA manager; the reviewer
records the outcome and signs ("Reviewed by"). An overdue review shows among the overdue
tasks."""
