"""What people see: formatted numbers and tables, interpretation sentences, one visual style.

`format` (numbers, money, percentages, days, dates, dicts/lists), `table` (formatted tables),
`narrative` (sentences computed from the data), `style` (palette, font, titled axes),
`settings` (the store's currency). Importing this package imports neither pandas nor matplotlib.
"""

from cdp_lib.display.format import MISSING, cell, date, days, inline, money, number, percent, wrap
from cdp_lib.display.narrative import note, summary
from cdp_lib.display.settings import currency
from cdp_lib.display.table import Table, format_frame, table, text_table

__all__ = ["MISSING", "Table", "cell", "currency", "date", "days", "format_frame", "inline", "money", "note",
           "number", "percent", "summary", "table", "text_table", "wrap"]
