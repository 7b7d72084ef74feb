"""The demo event: the study mission of the seed notification, as a raw event spec.

It recreates project 21-IP-06-GE-OSM-B ("Multicountry Observational Study Mission
on Data Governance in the Public Sector to Improve Productivity", hosted by the
Republic of Korea): two days of about three hours, 13:00-16:00 in Seoul, which is
07:30 in Tehran and 16:00 in Fiji; 57 overseas participants from the 20 other
member countries and 12 local ones. People are made up, with plausible names in
their own scripts, and e-mail addresses on reserved example domains (RFC 2606).
The output depends only on `first_day`: the same day gives the same spec.

The site visit plays a sample recording made on the spot by ffmpeg (`ensure_site_visit`):
never downloaded, never committed.
"""

import csv
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

from studymission.services.media import MediaPackage, package_sample, read_package

CODE = "21-IP-06-GE-OSM-B"
TITLE = (
    "Multicountry Observational Study Mission on Data Governance "
    "in the Public Sector to Improve Productivity"
)
TIMEZONE = "Asia/Seoul"
HOST_COUNTRY = "KR"
#: When each day begins in the programme as planned (Seoul time).
PROGRAMME_START = time(13, 0)
MODALITY = "Digital Multicountry"
IMPLEMENTING_ORGANIZATIONS = ("Korea Productivity Center", "APO Secretariat")
ORIGINAL_FIRST_DAY = date(2021, 11, 24)
OVERSEAS_PARTICIPANTS = 57
LOCAL_PARTICIPANTS = 12
#: The site-visit recording the demo plays, and how long a newly made one lasts.
SAMPLE_NAME = "site-visit-sejong"
SAMPLE_SECONDS = 240

# (key, kind, title, start, end, speakers) per day; times are Seoul wall times.
# The presentation titles are the notification's indicative topics, verbatim.
_Agenda = tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...]
_DAY1: _Agenda = (
    ("d1-opening", "opening", "Opening session and programme overview", "13:00", "13:15", ()),
    (
        "d1-intro",
        "presentation",
        "Introduction to data governance in the public sector",
        "13:15",
        "14:05",
        ("rp2",),
    ),
    ("d1-break", "break", "Break", "14:05", "14:15", ()),
    (
        "d1-benefits",
        "presentation",
        "Benefits and challenges of data governance in the public sector",
        "14:15",
        "15:05",
        ("rp3",),
    ),
    (
        "d1-site-visit",
        "site_visit",
        "Virtual site visit: government data centre, Sejong",
        "15:05",
        "15:40",
        ("rp1",),
    ),
    ("d1-qa", "discussion", "Questions and answers", "15:40", "16:00", ("rp1", "rp2", "rp3")),
)
_DAY2: _Agenda = (
    ("d2-recap", "opening", "Recap of Day 1", "13:00", "13:10", ()),
    (
        "d2-productivity",
        "presentation",
        "Linking data governance and productivity",
        "13:10",
        "14:00",
        ("rp4",),
    ),
    (
        "d2-rok-cases",
        "presentation",
        "Cases of good data governance in the public sector of the ROK",
        "14:00",
        "14:50",
        ("rp1",),
    ),
    ("d2-break", "break", "Break", "14:50", "15:00", ()),
    ("d2-group", "breakout", "Group discussion", "15:00", "15:40", ()),
    ("d2-closing", "closing", "Group reports and closing session", "15:40", "16:00", ()),
)
_SESSIONS = (
    ("day1", "Day 1: Fundamentals of data governance", "13:00", "16:00", _DAY1),
    ("day2", "Day 2: Data governance in practice", "13:00", "16:00", _DAY2),
)

# Names per country, in their own script where it is not Latin; "native|romanised"
# gives the romanisation that the e-mail address is made from.
_NAMES: dict[str, tuple[str, ...]] = {
    "BD": ("তানভীর আহমেদ|Tanvir Ahmed", "Farhana Akter", "Md. Rafiqul Islam"),
    "KH": ("សុខ ចាន់ថា|Sok Chantha", "Chea Sophal", "Keo Sreymom"),
    "TW": ("林志明|Lin Chih-ming", "Chen Yi-ting", "Wang Hsiao-wen"),
    "FJ": ("Litia Naivalu", "Josaia Ratuvou", "Anjali Prasad"),
    "HK": ("陳嘉慧|Chan Ka-wai", "Leung Chi-keung", "Wong Mei-ling"),
    "IN": ("अनिल कुमार शर्मा|Anil Kumar Sharma", "Priya Raghavan", "Sandeep Verma"),
    "ID": ("Siti Rahmawati", "Budi Santoso", "Dewi Kartika Sari"),
    "IR": ("Sadeq Ḥosseini", "فاطمه احمدی|Fatemeh Ahmadi", "Ali Rezā Karimi"),
    "JP": ("佐藤 健一|Sato Kenichi", "Tanaka Yūki", "鈴木 遥|Suzuki Haruka"),
    "LA": ("ສຸກສະຫວັນ ພົມມະຈັນ|Souksavanh Phommachanh", "Vilayphone Sisouk", "Khamphet Vongsa"),
    "MY": ("Nur Aisyah binti Ahmad", "Tan Wei Ming", "Rajesh a/l Subramaniam"),
    "MN": ("Батбаярын Энхтуяа|Batbayar Enkhtuya", "Ganbold Tserendorj", "Oyunchimeg Batsaikhan"),
    "NP": ("सीता श्रेष्ठ|Sita Shrestha", "Ram Bahadur Thapa", "Anjana Gurung"),
    "PK": ("Ayesha Siddiqui", "Muhammad Bilal Khan", "Sana Qureshi"),
    "PH": ("Maria Cristina Dela Cruz", "José Miguel Santos", "Angelica Reyes"),
    "SG": ("Lim Hui Ling", "Muhammad Faizal bin Osman", "Priya Nair"),
    "LK": ("නිමල් පෙරේරා|Nimal Perera", "Chamari Jayasinghe", "Dilrukshi Wickramasinghe"),
    "TH": ("สมชาย ใจดี|Somchai Jaidee", "Kanokwan Srisuk", "Pichai Wongsawat"),
    "TR": ("Şebnem Yıldız", "Mehmet Öztürk", "Ayşe Çelik"),
    "VN": ("Nguyễn Thị Minh", "Trần Văn Hùng", "Lê Thị Thu Hà"),
    "KR": (
        "김민준|Kim Min-jun",
        "이서연|Lee Seo-yeon",
        "박지훈|Park Ji-hoon",
        "최은지|Choi Eun-ji",
        "정현우|Jung Hyun-woo",
        "강수빈|Kang Su-bin",
        "Yoon Ji-ho",
        "Han Da-eun",
        "Cho Sung-min",
        "Lim Na-young",
        "Oh Jae-won",
        "Shin Hye-jin",
    ),
}

# The national productivity organisation first, then agencies the notification's
# "qualifications of participants" point at.
_ORGANIZATIONS: dict[str, tuple[str, ...]] = {
    "BD": ("National Productivity Organisation", "Bangladesh Computer Council", "Cabinet Division"),
    "KH": (
        "National Productivity Centre of Cambodia",
        "Ministry of Post and Telecommunications",
        "Ministry of Economy and Finance",
    ),
    "TW": ("China Productivity Center", "National Development Council", "Taipei City Government"),
    "FJ": (
        "National Training and Productivity Centre",
        "Ministry of Communications",
        "Fiji Bureau of Statistics",
    ),
    "HK": (
        "Hong Kong Productivity Council",
        "Office of the Government Chief Information Officer",
        "Census and Statistics Department",
    ),
    "IN": (
        "National Productivity Council",
        "Ministry of Electronics and Information Technology",
        "NITI Aayog",
    ),
    "ID": (
        "Directorate of Productivity Development, Ministry of Manpower",
        "Ministry of Communication and Informatics",
        "Statistics Indonesia",
    ),
    "IR": (
        "National Iranian Productivity Organization",
        "Information Technology Organization of Iran",
        "Plan and Budget Organization",
    ),
    "JP": (
        "Japan Productivity Center",
        "Digital Agency",
        "Ministry of Internal Affairs and Communications",
    ),
    "LA": (
        "Department of SME Promotion, Ministry of Industry and Commerce",
        "Ministry of Technology and Communications",
        "Lao Statistics Bureau",
    ),
    "MY": (
        "Malaysia Productivity Corporation",
        "Malaysian Administrative Modernisation and Management Planning Unit",
        "Department of Statistics Malaysia",
    ),
    "MN": (
        "Mongolian Productivity Organization",
        "Communications and Information Technology Authority",
        "National Statistics Office of Mongolia",
    ),
    "NP": (
        "National Productivity and Economic Development Centre",
        "Ministry of Communication and Information Technology",
        "Kathmandu Metropolitan City",
    ),
    "PK": (
        "National Productivity Organization",
        "Ministry of Information Technology and Telecommunication",
        "Punjab Information Technology Board",
    ),
    "PH": (
        "Development Academy of the Philippines",
        "Department of Information and Communications Technology",
        "Quezon City Government",
    ),
    "SG": (
        "Enterprise Singapore",
        "Smart Nation and Digital Government Office",
        "Government Technology Agency",
    ),
    "LK": (
        "National Productivity Secretariat",
        "Information and Communication Technology Agency of Sri Lanka",
        "Department of Census and Statistics",
    ),
    "TH": (
        "Thailand Productivity Institute",
        "Digital Government Development Agency",
        "Ministry of Digital Economy and Society",
    ),
    "TR": (
        "Ministry of Industry and Technology",
        "Digital Transformation Office of the Presidency",
        "Turkish Statistical Institute",
    ),
    "VN": (
        "Vietnam National Productivity Institute",
        "Ministry of Information and Communications",
        "Ministry of Home Affairs",
    ),
    "KR": (
        "Ministry of the Interior and Safety",
        "National Information Society Agency",
        "Korea Productivity Center",
        "Seoul Metropolitan Government",
        "Statistics Korea",
        "National Information Resources Service",
    ),
}

# The people who run it: (key, name, e-mail domain, country, organisation); the
# role follows from the key. rp4 is the overseas expert from outside the members.
_STAFF = (
    ("rp1", "이정훈|Lee Jung-hoon", "kr.example.com", "KR", "National Information Society Agency"),
    ("rp2", "森本 剛|Morimoto Tsuyoshi", "jp.example.com", "JP", "Keio University"),
    ("rp3", "Lim Siew Ping", "sg.example.com", "SG", "Government Technology Agency"),
    ("rp4", "Élodie Marchetti", "fr.example.com", "FR", "OECD Directorate for Public Governance"),
    ("mod1", "박서연|Park Seo-yeon", "kpc.example.com", "KR", "Korea Productivity Center"),
    ("mod2", "Ramon Villanueva", "apo.example.com", "PH", "APO Secretariat"),
    ("sec1", "石井 真理子|Ishii Mariko", "apo.example.com", "JP", "APO Secretariat"),
)
_STAFF_ROLES = {"rp": "resource_person", "mod": "moderator", "sec": "secretariat"}

# Letters that NFKD does not take apart into an ASCII letter and an accent.
_ASCII_LETTERS = str.maketrans({"ı": "i", "đ": "d", "Đ": "D", "ø": "o", "ł": "l", "ß": "ss"})


def build_demo_spec(*, first_day: date, starts_at: time = PROGRAMME_START) -> dict[str, Any]:
    """Return the seed study mission as a raw event spec, its days from `first_day`.

    `starts_at` moves each day's programme as a whole (Seoul time), so that a demo opened
    at any hour finds Day 1 running; by default the days run 13:00-16:00 as planned.
    """
    shift = datetime.combine(first_day, starts_at) - datetime.combine(first_day, PROGRAMME_START)
    overseas = [code for code in _member_country_codes() if code != HOST_COUNTRY]
    return {
        "code": CODE,
        "title": TITLE,
        "timezone": TIMEZONE,
        "host_country": HOST_COUNTRY,
        "modality": MODALITY,
        "implementing_organizations": list(IMPLEMENTING_ORGANIZATIONS),
        "attendance": {
            "session_threshold": 0.9,
            "minute_threshold_seconds": 30,
            "stale_after_seconds": 45,
            "require_visible": False,
        },
        "sessions": [
            _session(first_day + timedelta(days=offset), shift, *session)
            for offset, session in enumerate(_SESSIONS)
        ],
        "people": [*_participants(overseas), *_staff()],
    }


def _member_country_codes() -> tuple[str, ...]:
    path = files("studymission") / "data" / "member_countries.csv"
    rows = csv.DictReader(path.read_text(encoding="utf-8").splitlines())
    return tuple(row["iso2"] for row in rows)


def _session(
    day: date, shift: timedelta, key: str, title: str, start: str, end: str, agenda: _Agenda
) -> dict[str, object]:
    return {
        "key": key,
        "title": title,
        "start": _at(day, start, shift),
        "end": _at(day, end, shift),
        "agenda": [_agenda_item(day, shift, *entry) for entry in agenda],
    }


def _at(day: date, hh_mm: str, shift: timedelta) -> str:
    """The planned `hh_mm` of `day`, moved by `shift`, as a local ISO time."""
    moment = datetime.combine(day, time.fromisoformat(hh_mm)) + shift
    return moment.isoformat(timespec="minutes")


def _agenda_item(
    day: date,
    shift: timedelta,
    key: str,
    kind: str,
    title: str,
    start: str,
    end: str,
    speakers: tuple[str, ...],
) -> dict[str, object]:
    item: dict[str, object] = {
        "key": key,
        "kind": kind,
        "title": title,
        "start": _at(day, start, shift),
        "end": _at(day, end, shift),
    }
    if speakers:
        item["speakers"] = list(speakers)
    return item


def _participants(overseas: list[str]) -> list[dict[str, str]]:
    # Round-robin over the member countries, so that 57 seats give every country
    # two or three delegates; then the host's local participants.
    seats = [
        (overseas[i % len(overseas)], i // len(overseas)) for i in range(OVERSEAS_PARTICIPANTS)
    ]
    seats += [(HOST_COUNTRY, n) for n in range(LOCAL_PARTICIPANTS)]
    people = []
    for number, (country, nth) in enumerate(seats, start=1):
        origin = "local" if country == HOST_COUNTRY else "overseas"
        domain = f"{country.lower()}.example.{'net' if origin == 'local' else 'org'}"
        organizations = _ORGANIZATIONS[country]
        organization = organizations[nth % len(organizations)]
        person = _person(f"p{number:03d}", _name(country, nth), domain, country)
        people.append({**person, "organization": organization, "origin": origin})
    return people


def _staff() -> list[dict[str, str]]:
    people = []
    for key, name, domain, country, organization in _STAFF:
        role = _STAFF_ROLES[key.rstrip("0123456789")]
        origin = "local" if country == HOST_COUNTRY else "overseas"
        person = _person(key, name, domain, country)
        people.append({**person, "organization": organization, "role": role, "origin": origin})
    return people


def _person(key: str, entry: str, domain: str, country: str) -> dict[str, str]:
    name, _, romanised = entry.partition("|")
    email = f"{_email_local_part(romanised or name)}@{domain}"
    return {
        "key": key,
        "name": name,
        "email": email,
        "country": country,
        "organization": "",
        "role": "participant",
        "origin": "overseas",
    }


def _name(country: str, nth: int) -> str:
    # Names must not repeat, since e-mail addresses are made from them and unique.
    names = _NAMES[country]
    if nth >= len(names):
        raise ValueError(f"the demo has only {len(names)} names for {country}")
    return names[nth]


def _email_local_part(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name.translate(_ASCII_LETTERS))
    ascii_name = ascii_name.encode("ascii", "ignore").decode("ascii")
    return ".".join(re.findall(r"[a-z0-9]+", ascii_name.lower()))


def ensure_site_visit(
    media_dir: Path,
    *,
    ffmpeg: str,
    now: datetime,
    seconds: int = SAMPLE_SECONDS,
    on_progress: Callable[[float], None] = lambda fraction: None,
) -> MediaPackage:
    """The demo's packaged site visit: the one in `media_dir` if there is one (a quick
    check, so the demo starts at once the second time), else a newly made one."""
    existing = read_package(media_dir, SAMPLE_NAME)
    if existing is not None:
        return existing
    return package_sample(
        media_dir, SAMPLE_NAME, ffmpeg=ffmpeg, now=now, seconds=seconds, on_progress=on_progress
    )
