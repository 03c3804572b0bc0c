"""mappings: HubSpot records ⇄ canonical cache rows, and scores → the values leadsync writes.

Pure: no network, no SQLite, no clock. Imports nothing of leadsync's but `scoring`'s pure values.
"""
