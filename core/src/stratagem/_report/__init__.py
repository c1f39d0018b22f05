"""``stratagem report``: one self-contained HTML page of one or two run folders
(DESIGN section 13).

:mod:`~stratagem._report.run_folder` reads what a run wrote,
:mod:`~stratagem._report.prices` finds the prices it ran on,
:mod:`~stratagem._report.figures` draws the plotly figures and
:mod:`~stratagem._report.page` lays them out. Only the command line imports this
package, and only when the command runs (plotly is loaded then).
"""
