"""The game list shared by a fleet of processes: the store seam, the fleet logic, the stores.

Nothing here is imported until a client is given a ``games_store``; ``_redis`` is the only
module in the package that imports redis.
"""
