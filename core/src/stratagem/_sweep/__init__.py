"""Parameter sweeps (``stratagem sweep``): one data-driven session per parameter set.

:mod:`.grid` parses ``--grid STRATEGY.PARAM=a:b:step`` into parameter sets;
:mod:`.plan` checks them against the session config, every problem at once, before
any task starts; :mod:`.shared` loads the market data once and shares it read-only
(a memory-mapped file for local processes, the object store for Ray);
:mod:`.task` runs one set through the one session builder; :mod:`.local` and
:mod:`.ray_backend` run the tasks; :mod:`.results` keeps the journal, the results
table and the ranking; :mod:`.sweep` ties them together.
"""
