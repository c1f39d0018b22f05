"""The data layer: bar sources, validation, derived bars and SessionData.

It knows nothing of strategies.
"""
