"""Admin actions (token required): record a contact's answer, approve an exclusion, grant or
withdraw voting. Each is written back to the registry file with who and when.

Without the token, or with a wrong one, the answer is 401 and nothing is written. A
dashboard started without ``--registry FILE`` serves the shipped registry, which is
read-only: admin writes are refused with 409.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from driverci.errors import ConfigError
from driverci.registry.loader import load_registry, save_registry
from driverci.registry.schema import ApprovedExclusion, CISystem, Note, Voting
from driverci.web.api import API_PREFIX
from driverci.web.deps import DataDep
from driverci.web.models import AdminResult

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="the dashboard's admin token")
router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"])


def require_admin(
    data: DataDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    expected = data.config.admin_token
    given = credentials.credentials if credentials else ""
    # Constant-time comparison: the token must not leak through response timing.
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401,
            "admin token required: send 'Authorization: Bearer <token>'"
            + ("" if expected else " (this dashboard was started without an admin token)"),
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Annotated[None, Depends(require_admin)]


class NoteRequest(BaseModel):
    by: str = Field(min_length=1, description="who records the answer")
    text: str = Field(min_length=1, description="what the contact answered")
    contact: str | None = Field(default=None, description="who answered")


class ExclusionRequest(BaseModel):
    pattern: str = Field(min_length=1, description="regex of paths irrelevant for this CI")
    approved_by: str = Field(min_length=1)
    reason: str | None = None


class VotingRequest(BaseModel):
    allowed: bool = Field(description="true grants the Verified vote, false withdraws it")
    approved_by: str = Field(min_length=1)
    reference: str | None = Field(default=None, description="meeting log, mail or review URL")


def _today() -> date:
    return datetime.now(UTC).date()


def _write(
    data: DataDep, account: str, action: str, by: str, change: Callable[[CISystem], CISystem]
) -> AdminResult:
    path = data.config.registry_path
    if path is None:
        raise HTTPException(
            409,
            "the dashboard serves the shipped registry, which is read-only: start it with "
            "--registry FILE to record admin actions",
        )
    with data.admin_lock:
        try:
            # Re-read the file: it may have been edited by hand since the dashboard started.
            registry = load_registry(path)
        except ConfigError as err:
            raise HTTPException(409, str(err)) from None
        systems = list(registry.ci_systems)
        index = next((i for i, ci in enumerate(systems) if ci.account == account), None)
        if index is None:
            raise HTTPException(404, f"no CI with account {account!r} in {path}")
        try:
            systems[index] = change(systems[index])
        except ValidationError as err:
            problems = "; ".join(e["msg"] for e in err.errors())
            raise HTTPException(422, f"{action}: {problems}") from None
        updated = registry.model_copy(update={"ci_systems": systems})
        try:
            save_registry(updated, path)
            data.replace_registry(load_registry(path))
        except ConfigError as err:
            raise HTTPException(409, str(err)) from None
    log.info("admin %s for %s by %s written to %s", action, account, by, path)
    return AdminResult(account=account, action=action, registry=str(path), by=by, date=_today())


@router.post("/ci/{account}/notes", response_model=AdminResult, summary="Record a contact's answer")
def add_note(account: str, body: NoteRequest, data: DataDep, _: AdminDep) -> AdminResult:
    note = Note(date=_today(), by=body.by, text=body.text, contact=body.contact)
    return _write(
        data,
        account,
        "note",
        body.by,
        lambda ci: ci.model_copy(update={"notes": [*ci.notes, note]}),
    )


@router.post("/ci/{account}/exclusions", response_model=AdminResult, summary="Approve an exclusion")
def add_exclusion(account: str, body: ExclusionRequest, data: DataDep, _: AdminDep) -> AdminResult:
    def change(ci: CISystem) -> CISystem:
        exclusion = ApprovedExclusion(
            pattern=body.pattern, approved_by=body.approved_by, date=_today(), reason=body.reason
        )
        return ci.model_copy(update={"approved_exclusions": [*ci.approved_exclusions, exclusion]})

    return _write(data, account, "exclusion", body.approved_by, change)


@router.post("/ci/{account}/voting", response_model=AdminResult, summary="Grant or withdraw voting")
def set_voting(account: str, body: VotingRequest, data: DataDep, _: AdminDep) -> AdminResult:
    def change(ci: CISystem) -> CISystem:
        record = Voting(
            allowed=body.allowed,
            approved_by=body.approved_by,
            date=_today(),
            reference=body.reference,
        )
        return ci.model_copy(update={"voting": record})

    action = "grant voting" if body.allowed else "withdraw voting"
    return _write(data, account, action, body.approved_by, change)
