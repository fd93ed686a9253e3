"""The audits plugin keeps the plugin contract (core.testing_contract)."""

from core.testing_contract import plugin_contract

test_contract = plugin_contract("audits")
