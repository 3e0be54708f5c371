"""Followers: who follows whom, and exact counts, batched for a fast catch-up."""
