"""Real Gerrit on loopback: fetch its jars through Maven, init a site, run it, provision accounts and projects (tests and vendor rehearsal)."""  # noqa: E501

from driverci.realgerrit.fetch import GerritDistribution, GerritFetchError, GerritUnavailable
from driverci.realgerrit.provision import (
    Account,
    Provisioned,
    ProvisionError,
    RunningGerrit,
    provision,
    push_for_review,
)
from driverci.realgerrit.site import GerritSite, GerritStartError

__all__ = [
    "Account",
    "GerritDistribution",
    "GerritFetchError",
    "GerritSite",
    "GerritStartError",
    "GerritUnavailable",
    "ProvisionError",
    "Provisioned",
    "RunningGerrit",
    "provision",
    "push_for_review",
]
