"""Looking at a run's results: quick-look images, run reports, and comparisons with the simulator's truth.

* :mod:`gpucal.report.quicklook`: a PNG of any ``_i2d`` mosaic (gpucal's or
  jwst's) with an asinh stretch and the catalog's sources marked (needs
  matplotlib, the ``plot`` extra);
* :mod:`gpucal.report.truth`: how well a run recovered what the simulator put
  in (pointing errors, catalog completeness, fluxes);
* :mod:`gpucal.report.run_report`: the JSON record of a run (steps, times,
  device, products, tweakreg's corrections, software versions).

Importing this package loads nothing heavy; each module imports what it needs.
"""
