"""A paginator for the admin's big audit tables that never counts them whole."""

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator

# Past this many rows the admin says "10000" and asks for a filter or search;
# counting millions of stage events on every page view costs more than it tells.
COUNT_LIMIT = 10_000


class CappedPaginator(Paginator[Any]):
    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "values"):
            # Without the list's ORDER BY: the count needs no sort.
            rows = object_list.values("pk").order_by()[:COUNT_LIMIT]
            return int(rows.count())
        return min(len(object_list), COUNT_LIMIT)
