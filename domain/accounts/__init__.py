"""Accounts: the people behind claims, follows and invitations, with erasable personal data."""
