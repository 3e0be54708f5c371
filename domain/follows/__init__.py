"""Follows: who follows which researcher record; the page's most frequent write."""
