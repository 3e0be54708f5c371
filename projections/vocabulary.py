"""The words the API answers with, as closed sets: OpenAPI lists them as enums, so a generated
client knows every value (README uses the same words)."""

from __future__ import annotations

from typing import Literal

Level = Literal["L0", "L1", "L2", "L3"]
Role = Literal["researcher"]  # what the profile's header says the person is
ClaimStatus = Literal["unclaimed", "claimed", "disputed"]  # a record's, as the profile shows it
Tier = Literal["Emerging", "Established", "Trusted", "Exemplary"]
ClaimProgress = Literal["awaiting_verification", "pending", "info_requested", "disputing",
                        "approved", "rejected", "withdrawn"]  # a claim's own status
EvidenceKind = Literal["orcid", "institutional_email", "statement"]
EvidenceStrength = Literal["conclusive", "strong", "weak"]
EvidenceStatus = Literal["pending", "submitted", "verified", "failed"]
NotificationKind = Literal["new_follower", "invitation_received", "invitation_accepted", "invitation_declined",
                           "claim_approved", "claim_rejected", "verification_changed", "message_received",
                           "conversation_closed", "claim_question"]
