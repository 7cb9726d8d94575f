"""Segments: definitions as code, compiled to Ibis, with membership history, samples and exports.

Public API (used by the CLI, the segmentation notebook and the segment-builder app):

>>> from cdp_lib.segments import load_definition, members_table, count_members, save_definition
>>> d = load_definition({"name": "Buyers", "conditions": [{"metric": "Placed Order"}]})
>>> d.name
'Buyers'
"""

from cdp_lib.segments.backfill import backfill
from cdp_lib.segments.compile import COMPUTED, Compiler, check_definition, count_members, members_table
from cdp_lib.segments.definition import SegmentDefinition, load_definition, parse_definition, parse_yaml
from cdp_lib.segments.export import ad_audience_frame, export_ad_audience, export_csv, members_with_fields
from cdp_lib.segments.history import (
    changes_table, current_members, members_at, members_of, overlap_table, refresh, segments_for,
    sizes_table, stored_segments,
)
from cdp_lib.segments.library import DEFAULT_FOLDER, dependency_order, find_definition, load_library, save_definition
from cdp_lib.segments.report import (
    SegmentationParams, export_segments, latest_refresh_table, segment_profile_table, segmentation_params,
)
from cdp_lib.segments.samples import sample, split

__all__ = [
    "COMPUTED", "Compiler", "DEFAULT_FOLDER", "SegmentDefinition", "ad_audience_frame", "backfill", "changes_table",
    "check_definition", "count_members", "current_members", "dependency_order", "export_ad_audience",
    "export_csv", "find_definition", "load_definition", "load_library", "members_at", "members_of",
    "members_table", "members_with_fields", "SegmentationParams", "export_segments", "latest_refresh_table",
    "segment_profile_table", "segmentation_params", "overlap_table", "parse_definition", "parse_yaml", "refresh",
    "sample", "save_definition", "segments_for", "sizes_table", "split", "stored_segments",
]
