"""Caching schedules: the immutable type, its JSON format and heuristic generators."""

from ecad.schedules.io import read_schedule, schedule_to_json, write_schedule
from ecad.schedules.layout import ScheduleLayout
from ecad.schedules.schedule import Schedule, ScheduleMetadata

__all__ = [
    "Schedule",
    "ScheduleLayout",
    "ScheduleMetadata",
    "read_schedule",
    "schedule_to_json",
    "write_schedule",
]
