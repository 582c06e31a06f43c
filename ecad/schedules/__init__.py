"""Caching schedules: the immutable type, its JSON format and heuristic generators."""

from ecad.schedules.io import parse_schedule, read_schedule, schedule_to_json, write_schedule
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule, ScheduleMetadata

__all__ = [
    "Schedule",
    "ScheduleLayout",
    "ScheduleMetadata",
    "parse_schedule",
    "read_schedule",
    "schedule_to_json",
    "write_schedule",
]
