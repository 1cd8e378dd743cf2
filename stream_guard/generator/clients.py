"""Client devices: device fingerprints and user agents per channel.

Everyone, account owners and account thieves alike, draws from the same pools: a thief's
phone or browser looks like anybody's; only its being new to the account can give it away.

>>> from random import Random
>>> d = new_device(Random(2), "ios")
>>> d.channel, len(d.device_id), d.user_agent.startswith("Bithumb/")
('ios', 36, True)
"""

from __future__ import annotations

from random import Random
from typing import NamedTuple

__all__ = ["Device", "api_client", "new_device", "web_user_agent"]


class Device(NamedTuple):
    device_id: str | None
    channel: str
    user_agent: str


_APP_VERSIONS = ("3.9.2", "3.9.4", "3.10.0", "3.10.1", "3.10.3", "3.11.0")
_IOS = ("17.5.1", "17.6.1", "18.0.1", "18.1", "18.1.1", "16.7.10")
_IPHONES = ("iPhone14,5", "iPhone14,2", "iPhone15,2", "iPhone15,3", "iPhone16,1", "iPhone16,2",
            "iPhone17,1", "iPhone13,2")
_ANDROID = ("14", "14", "13", "15", "12")
_ANDROID_MODELS = ("SM-S928N", "SM-S921N", "SM-S918N", "SM-S911N", "SM-A546N", "SM-A536N",
                   "SM-F946N", "SM-F731N", "SM-G991N", "Pixel 8", "LM-V510N", "SM-N986N")
_WEB = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome}.0.0.0 Safari/537.36 Edg/{chrome}.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{safari} Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome_old}.0.0.0 Whale/3.{whale}.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/{samsung} Chrome/{chrome_old}.0.0.0 Mobile Safari/537.36",
)
_WEB_WEIGHTS = (42, 10, 12, 10, 12, 5, 9)
_API = ("python-requests/2.32.3", "python-requests/2.31.0", "ccxt/4.4.26 Python/3.11.9",
        "ccxt/4.3.98 Node.js/20.17.0", "aiohttp/3.10.10", "Go-http-client/2.0", "axios/1.7.7",
        "okhttp/4.12.0")


def web_user_agent(rng: Random) -> str:
    template = rng.choices(_WEB, _WEB_WEIGHTS)[0]
    return template.format(
        chrome=rng.choice((128, 129, 130, 130, 131)), chrome_old=rng.choice((122, 125, 126)),
        safari=rng.choice(("17.6", "18.0", "18.1")), firefox=rng.choice((131, 132)),
        whale=rng.choice((27, 28)), samsung=rng.choice(("25.0", "26.0")),
    )


def _device_id(rng: Random, channel: str) -> str:
    if channel == "ios":  # identifierForVendor
        h = f"{rng.getrandbits(128):032X}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if channel == "android":  # ANDROID_ID
        return f"{rng.getrandbits(64):016x}"
    return f"{rng.getrandbits(128):032x}"  # a browser fingerprint hash


def new_device(rng: Random, channel: str | None = None) -> Device:
    """A device never seen before; ``channel`` None picks one like the user base does."""
    if channel is None:
        channel = rng.choices(("ios", "android", "web"), (34, 41, 25))[0]
    if channel == "ios":
        ua = (f"Bithumb/{rng.choice(_APP_VERSIONS)} ({rng.choice(_IPHONES)}; "
              f"iOS {rng.choice(_IOS)}; Scale/3.00)")
    elif channel == "android":
        ua = (f"Bithumb/{rng.choice(_APP_VERSIONS)} (Linux; Android {rng.choice(_ANDROID)}; "
              f"{rng.choice(_ANDROID_MODELS)}) okhttp/4.12.0")
    else:
        ua = web_user_agent(rng)
    return Device(_device_id(rng, channel), channel, ua)


def api_client(rng: Random) -> Device:
    """An API client: no device fingerprint, a library's user agent."""
    return Device(None, "api", rng.choice(_API))
