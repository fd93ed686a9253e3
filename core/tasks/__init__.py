"""Tasks: work assigned to a user, or to a role within a study/site scope, on a record."""
