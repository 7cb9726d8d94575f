"""Old import path of the report scheduler, kept for scripts and docs: see `cdp_lib.reports.schedule`."""

from cdp_lib.reports.schedule import *  # noqa: F403  (the public names, re-exported)
from cdp_lib.reports.schedule import __all__  # noqa: F401
