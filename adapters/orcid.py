"""ORCID sign-in (OAuth 2.0 authorization-code flow): proves which ORCID iD a person holds.

The endpoints come from the settings (ORCID's by default; tests run a server on loopback).
`state` binds the callback to one claim: it is signed, and it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode
from uuid import UUID

import httpx

from domain.errors import InvalidInputError, UnavailableError
from adapters.openalex import MalformedRecordError, normalise_orcid

STATE_TTL_SECONDS = 15 * 60


class OrcidSignIn:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        authorize_url: str,
        token_url: str,
        redirect_uri: str,
        state_secret: bytes,
        timeout: float = 10.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.redirect_uri = redirect_uri
        self.state_secret = state_secret
        self.timeout = timeout

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def start(self, claim_id: UUID) -> str:
        """Where to send the person: ORCID's sign-in page, coming back to our callback."""
        query = urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "scope": "/authenticate",
                "redirect_uri": self.redirect_uri,
                "state": self._state(claim_id),
            }
        )
        return f"{self.authorize_url}?{query}"

    def claim_for_state(self, state: str) -> UUID:
        try:
            claim, expires, signature = state.split(".")
            expected = self._sign(f"{claim}.{expires}")
            if not hmac.compare_digest(signature.encode(), expected.encode()) or int(expires) < time.time():
                raise ValueError
            return UUID(claim)
        except (ValueError, UnicodeEncodeError):
            raise InvalidInputError("the sign-in link is not valid or has expired; start the ORCID sign-in again") from None

    def proven_orcid(self, code: str) -> str:
        """Exchange the authorization code; ORCID's token response names the iD it proved."""
        try:
            response = httpx.post(
                self.token_url,
                data={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                },
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError:
            raise UnavailableError("ORCID did not answer; try the sign-in again later") from None
        if response.status_code in (400, 401):
            raise InvalidInputError("ORCID refused the sign-in code; start the ORCID sign-in again")
        if response.status_code != 200:
            raise UnavailableError("ORCID could not complete the sign-in; try again later")
        try:
            return normalise_orcid(str(response.json()["orcid"]))
        except (ValueError, KeyError, TypeError, MalformedRecordError):
            raise UnavailableError("ORCID's answer did not name an ORCID iD; try again later") from None

    def _state(self, claim_id: UUID) -> str:
        payload = f"{claim_id}.{int(time.time()) + STATE_TTL_SECONDS}"
        return f"{payload}.{self._sign(payload)}"

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self.state_secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
