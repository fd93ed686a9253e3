"""Long work outside the web request: exports built by a worker (or a thread of the web process
when no queue is configured), with progress the user can watch and a file only they download."""
