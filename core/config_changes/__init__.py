"""Configuration change control (P11-13, A11-10): a change of a setting, a role's permissions
or a plugin's enabled state proposed as a controlled record, approved with an e-signature by
someone other than the proposer, then activated (applied in one transaction, refused when the
current value moved since the proposal). ``core.config_approval_required`` makes it the only
way to change the configuration; every change, direct or activated, is a configuration version
(``core.config_versions``)."""
