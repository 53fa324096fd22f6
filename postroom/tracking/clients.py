"""Who loaded a tracking image: an approximate client class from the User-Agent, and
whether the load is a prefetch (an image proxy or a scanner, not a person reading).

Apple Mail Privacy Protection's IP ranges are not known here, so the User-Agent and the
time since delivery decide:
- a scanner or a bot (security gateways, link checkers, HTTP libraries) is always a
  prefetch;
- an image proxy (Gmail's, Yahoo's, Outlook's), Apple's bare privacy-proxy agent or no
  agent at all is a prefetch within `prefetch_seconds` of delivery; later it is a
  person opening the email through their provider.
"""

import re

_SCANNER = re.compile(
    r"bot\b|crawler|spider|scanner|barracuda|mimecast|proofpoint|symantec|trendmicro|"
    r"forcepoint|cisco|ironport|fortiguard|sophos|zscaler|safelinks|linkpreview|"
    r"python-|curl/|wget/|go-http-client|java/|okhttp|libwww|httpclient|headless",
    re.IGNORECASE,
)
_CLASSES = [
    ("gmail", re.compile(r"GoogleImageProxy|ggpht\.com", re.IGNORECASE)),
    ("yahoo", re.compile(r"YahooMailProxy", re.IGNORECASE)),
    ("outlook", re.compile(r"Outlook|Microsoft Office|MSOffice|ms-office", re.IGNORECASE)),
    ("thunderbird", re.compile(r"Thunderbird", re.IGNORECASE)),
]
_PROXIES = {"gmail", "yahoo", "outlook"}
_BROWSER = re.compile(r"Firefox/|Chrome/|Safari/|Edg/|OPR/", re.IGNORECASE)
# Apple Mail (and its privacy proxy) sends WebKit without a browser's version token.
_APPLE_MAIL = re.compile(r"AppleWebKit/[\d.]+ \(KHTML, like Gecko\)\s*(?:Mobile/\w+)?\s*$")


def client_class(user_agent: str) -> str:
    ua = (user_agent or "").strip()
    if not ua:
        return "unknown"
    if _SCANNER.search(ua):
        return "scanner"
    for name, pattern in _CLASSES:
        if pattern.search(ua):
            return name
    if _APPLE_MAIL.search(ua):
        return "apple_mail"
    if _BROWSER.search(ua):
        return "browser"
    return "unknown"


def is_prefetch(client: str, seconds_since_delivery: float | None, prefetch_seconds: float) -> bool:
    if client == "scanner":
        return True
    soon = seconds_since_delivery is not None and seconds_since_delivery < prefetch_seconds
    return soon and client in (_PROXIES | {"apple_mail", "unknown"})
