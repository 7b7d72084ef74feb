"""Plain builders of test inputs: a small valid event spec and its parts."""

import copy
from typing import Any

BASE_SPEC: dict[str, Any] = {
    "code": "TEST-EVENT-1",
    "title": "Study Mission on Data Governance",
    "timezone": "Asia/Seoul",
    "host_country": "KR",
    "modality": "Digital Multicountry",
    "implementing_organizations": ["Korea Productivity Center"],
    "sessions": [
        {
            "key": "day1",
            "title": "Day 1",
            "start": "2021-11-24T13:00",
            "end": "2021-11-24T16:00",
            "agenda": [
                {
                    "key": "d1-intro",
                    "kind": "presentation",
                    "title": "Introduction",
                    "start": "13:00",
                    "end": "14:00",
                    "speakers": ["rp1"],
                },
                {
                    "key": "d1-break",
                    "kind": "break",
                    "title": "Break",
                    "start": "14:00",
                    "end": "14:15",
                },
                {
                    "key": "d1-benefits",
                    "kind": "presentation",
                    "title": "Benefits and challenges",
                    "start": "14:15",
                    "end": "16:00",
                    "speakers": ["rp1"],
                },
            ],
        },
        {
            "key": "day2",
            "title": "Day 2",
            "start": "2021-11-25T13:00",
            "end": "2021-11-25T16:00",
            "agenda": [
                {
                    "key": "d2-visit",
                    "kind": "site_visit",
                    "title": "Virtual site visit",
                    "start": "13:00",
                    "end": "14:00",
                },
                {
                    "key": "d2-groups",
                    "kind": "breakout",
                    "title": "Group discussion",
                    "start": "14:00",
                    "end": "16:00",
                },
            ],
        },
    ],
    "people": [
        {
            "key": "p001",
            "name": "Nguyễn Thị Minh",
            "email": "minh@example.org",
            "country": "VN",
            "organization": "VNPI",
            "role": "participant",
            "origin": "overseas",
        },
        {
            "key": "p002",
            "name": "Şebnem Yıldız",
            "email": "sebnem@example.org",
            "country": "TR",
            "organization": "MoIT",
            "role": "participant",
            "origin": "overseas",
        },
        {
            "key": "rp1",
            "name": "Kim Min-jun",
            "email": "rp1@example.org",
            "country": "KR",
            "organization": "KPC",
            "role": "resource_person",
            "origin": "local",
        },
        {
            "key": "mod1",
            "name": "Moderator One",
            "email": "mod1@example.org",
            "country": "JP",
            "organization": "APO",
            "role": "moderator",
            "origin": "overseas",
        },
        {
            "key": "sec1",
            "name": "Secretariat",
            "email": "sec1@example.org",
            "country": "JP",
            "organization": "APO",
            "role": "secretariat",
            "origin": "overseas",
        },
    ],
}


def make_spec(**overrides: Any) -> dict[str, Any]:
    """A deep copy of the base spec with top-level fields replaced."""
    spec = copy.deepcopy(BASE_SPEC)
    spec.update(overrides)
    return spec
