"""The moderators' queue of claims waiting for a decision."""
