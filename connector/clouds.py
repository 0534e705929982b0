"""National clouds: where to authenticate, which hosts serve Graph and Exchange, and which APIs each one offers.

Hosts (API notes sections 7 and 9): the Exchange admin API of US Government DoD is ``outlook-dod.office365.us``
(its token scope ``https://outlook-dod.office365.us/.default``), of GCC High ``outlook.office365.us``, of
21Vianet ``partner.outlook.cn``; GCC (moderate) uses the global hosts.

Availability: the v1.0 pages of ``getEmailAppUsageUserCounts``, ``getEmailAppUsageAppsUserCounts``,
``admin/reportSettings`` and ``admin/exchange/tracing/messageTraces`` list the global service only;
``getEmailAppUsageUserDetail``, sign-ins, the beta usage reports and the Exchange admin API exist in every cloud.
A source a cloud does not list is still tried once: Microsoft's answer decides, and a refusal ends the source as
*unavailable in this cloud* with that answer kept in the run record (see :class:`connector.errors.CloudUnavailable`).
"""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CLOUDS", "GLOBAL_ONLY_APIS", "Cloud", "CloudEndpoints"]


class Cloud(StrEnum):
    GLOBAL = "global"
    USGOV = "usgov"
    USGOVDOD = "usgovdod"
    CHINA = "china"


#: the APIs (named like the sources that use them) Microsoft documents for the global service only
GLOBAL_ONLY_APIS = frozenset({"report_settings", "usage_user_counts", "usage_apps_kpi", "message_trace"})


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    authority_host: str
    graph_endpoint: str
    exchange_endpoint: str
    #: APIs the cloud's documentation does not list (see GLOBAL_ONLY_APIS)
    missing: frozenset[str] = frozenset()

    def offers(self, api: str) -> bool:
        """Does Microsoft document ``api`` (a source name) in this cloud?"""
        return api not in self.missing


CLOUDS: dict[Cloud, CloudEndpoints] = {
    Cloud.GLOBAL: CloudEndpoints(
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://outlook.office365.com",
    ),
    Cloud.USGOV: CloudEndpoints(
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://outlook.office365.us",
        GLOBAL_ONLY_APIS,
    ),
    Cloud.USGOVDOD: CloudEndpoints(
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "https://outlook-dod.office365.us",
        GLOBAL_ONLY_APIS,
    ),
    Cloud.CHINA: CloudEndpoints(
        "https://login.partner.microsoftonline.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://partner.outlook.cn",
        GLOBAL_ONLY_APIS,
    ),
}
