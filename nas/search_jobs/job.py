"""Moved to :mod:`nas.search_protocol.job` (a leaf that the jobs below the registry can import); re-exported here."""

from nas.search_protocol.job import Echo, SearchJob, SearchResult

__all__ = ["Echo", "SearchJob", "SearchResult"]
