"""``ganzoo bench``: train recipes under one budget and several seeds, and tabulate them.

:mod:`~ganzoo.bench.suites` names sets of recipes, :mod:`~ganzoo.bench.runner` runs a bench
into a results file, :mod:`~ganzoo.bench.worker` trains one entry (in its own process), and
:mod:`~ganzoo.bench.tables` turns the results file into Markdown, HTML and the leaderboard.
"""
