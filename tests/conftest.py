"""Suite-wide set-up. The fixtures themselves live in ``core.testing`` (a pytest11 plugin)."""
