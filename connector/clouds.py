"""National clouds: where to authenticate and which hosts serve Graph and Exchange (API notes section 7)."""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CLOUDS", "Cloud", "CloudEndpoints"]


class Cloud(StrEnum):
    GLOBAL = "global"
    USGOV = "usgov"
    USGOVDOD = "usgovdod"
    CHINA = "china"


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    authority_host: str
    graph_endpoint: str
    exchange_endpoint: str
    #: Graph message trace (admin/exchange/tracing) is served in the global cloud only (API notes section 3).
    message_trace: bool
    #: the Graph usage reports exist in every cloud (GCC High / DoD / 21Vianet serve them on their Graph host).
    usage_reports: bool = True


CLOUDS: dict[Cloud, CloudEndpoints] = {
    Cloud.GLOBAL: CloudEndpoints(
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://outlook.office365.com",
        message_trace=True,
    ),
    Cloud.USGOV: CloudEndpoints(
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://outlook.office365.us",
        message_trace=False,
    ),
    Cloud.USGOVDOD: CloudEndpoints(
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "https://webmail.apps.mil",
        message_trace=False,
    ),
    Cloud.CHINA: CloudEndpoints(
        "https://login.partner.microsoftonline.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://partner.outlook.cn",
        message_trace=False,
    ),
}
