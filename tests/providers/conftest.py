"""Fixtures shared by the provider tests: the Salesforce-mode simulator on loopback."""

from tests.providers._salesforce import salesforce_server, upstream

__all__ = ["salesforce_server", "upstream"]
