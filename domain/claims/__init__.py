"""Claims: linking a public author record to a person, with evidence, moderation and disputes."""
