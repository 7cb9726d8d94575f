"""Charts, one module per analysis (`plots.rfm`, `plots.clv`, ...): seaborn/matplotlib only here.

Every `plot_*` function takes `ax=None` (a new figure when omitted) and returns the axes; none
touches global pyplot state beyond creating its figure.
"""
