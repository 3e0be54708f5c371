"""Researcher profiles: the read model behind a profile page, its works list and name search."""
