"""analysis: what leadsync computes over the cache without calling HubSpot.

Rescoring runs (the scores push writes), simulate, backtest, the HTML report and its charts.
May import `cache`, `scoring`, `mappings` and `foundation`; never `connector`, `flows` or `webhooks`.
"""
