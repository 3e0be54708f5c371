"""ProfilesProjection: which catalogue, claims, accounts and invitations event changes which profile.

Each work a batch imports or corrects is handed to the view as its fields before the batch and
after it; the view moves each author's facts by the difference (projections/profiles/view.py)
and encodes the profiles that changed (projections/profiles/build.py, the rules).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.accounts.model import Account
from domain.catalogue.model import WORK_FIELDS, Researcher, Work
from domain.claims.model import AdoptionRequest, LinkRequest, Record, record_id_for
from domain.invitations.model import Preferences
from domain.profile_counts import CountedOnProfile
from projections.history.view import stamp
from projections.profiles.build import encode_work, shown_name
from projections.profiles.view import BatchChanges, ProfilesView, WorkChange, sort_key_of

OpenSealed = Callable[[UUID, str], "str | None"]


class ProfilesProjection(Projection[ProfilesView]):
    """Catalogue, claims, accounts and invitations events -> profile, works and search rows.

    Follows four applications (one runner each, one tracking row each) and processes whole
    batches at once; of the invitations it reads only who may invite an owner ("Open to
    collaborate"). Owners' names are sealed in the accounts events: `open_sealed` opens them,
    and gives None once the account's key is gone, so a replay after an erasure finds no name.
    """

    name = "profiles"
    topics = ()

    def __init__(self, view: ProfilesView, open_sealed: OpenSealed | None = None) -> None:
        super().__init__(view)
        self.open_sealed = open_sealed or (lambda _subject, _sealed: None)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def caught_up(self) -> bool:
        """The log has nothing new: write the documents batches left for later (they were
        behind an import, or a process stopped before writing them). True if any were."""
        if self.view.defer_documents or not self.view.has_deferred_documents():
            return False
        return self.view.write_deferred_documents() > 0

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        changes = BatchChanges()
        corrected = [str(e.originator_id) for e in events if isinstance(e, Work.Corrected)]
        stored = self.view.load_work_fields(corrected) if corrected else {}
        records = [str(e.originator_id) for e in events if isinstance(e, Record.Event)]
        changes.ownership = self.view.load_ownership(records) if records else {}
        for seq, e in enumerate(events):
            if isinstance(e, CountedOnProfile):
                rid = e.counted_on()
                changes.counted.append((f"{e.originator_id.hex}:{e.originator_version}", rid, e.count, e.delta,
                                        stamp(e.timestamp)))
                changes.affected.add(rid)
            elif isinstance(e, Record.Event | Account.Event):
                self._claims_or_accounts(changes, e)
            elif isinstance(e, LinkRequest.Opened):
                changes.link_requests[str(e.originator_id)] = (str(e.person), str(e.record), e.timestamp.isoformat())
            elif isinstance(e, LinkRequest.Decided):
                changes.link_requests[str(e.originator_id)] = None
            elif isinstance(e, AdoptionRequest.Opened):
                changes.adoption_requests[str(e.originator_id)] = (str(e.adopter), str(e.work_id), str(e.from_record),
                                                                   e.timestamp.isoformat())
            elif isinstance(e, AdoptionRequest.Decided):
                changes.adoption_requests[str(e.originator_id)] = None
            elif isinstance(e, Preferences.Started):
                changes.preferences[str(e.originator_id)] = str(e.account_id)
            elif isinstance(e, Preferences.PolicySet):
                changes.policies[str(e.originator_id)] = e.policy
            elif isinstance(e, Researcher.Registered):
                rid = str(e.originator_id)
                changes.researchers[rid] = {"openalex_id": e.openalex_id, "orcid": e.orcid,
                                            "display_name": e.display_name}
                changes.affected.add(rid)  # its works may have come first: shown until they name it
            elif isinstance(e, Work.Imported):
                wid = str(e.originator_id)
                changes.works[wid] = WorkChange(stored.get(wid), {"openalex_id": e.openalex_id,
                                                                  **{k: getattr(e, k) for k in WORK_FIELDS}}, seq=seq)
            elif isinstance(e, Work.Corrected):
                wid = str(e.originator_id)
                before = changes.works[wid].new if wid in changes.works else stored.get(wid)
                if before is None:
                    continue  # a work this view has not seen imported (events arrive in order)
                change = changes.works.setdefault(wid, WorkChange(before, before))
                change.new, change.seq = {**before, **e.changes}, seq
        for wid, change in changes.works.items():
            change.sort_key = sort_key_of(change.new)
            change.doc = encode_work(wid, change.new["openalex_id"], change.new)
        self.view.apply_batch(changes, tracking)

    def _claims_or_accounts(self, changes: BatchChanges, e: Any) -> None:
        if isinstance(e, Account.Registered | Account.DisplayNameChanged):
            changes.owner_names[str(e.originator_id)] = shown_name(self.open_sealed(e.originator_id,
                                                                                    e.sealed_display_name))
            changes.affected_owners.add(str(e.originator_id))
        elif isinstance(e, Account.Erased):
            changes.owner_names[str(e.originator_id)] = None
            changes.affected_owners.add(str(e.originator_id))
        elif isinstance(e, Record.Started):
            row = {"researcher_id": str(e.researcher_id), "owner_id": None, "level": e.level, "disputed": False,
                   "headline": None, "about": None}
            changes.ownership.setdefault(str(e.originator_id), row)
        elif isinstance(e, Record.Event):
            row = changes.ownership.get(str(e.originator_id))
            if row is None:  # a record always starts with Started; nothing to attach this to
                return
            if isinstance(e, Record.OwnerSet):
                row["owner_id"] = str(e.account_id)
                row["headline"] = row["about"] = None  # a new owner starts without the last one's words
                row["worded"] = True
            elif isinstance(e, Record.OwnerRemoved):
                row["owner_id"] = None
                row["headline"] = row["about"] = None
                row["worded"] = True
                changes.affected_owners.add(str(e.account_id))
            elif isinstance(e, Record.ProfileTextChanged):
                row["headline"], row["about"] = (
                    None if sealed is None else self.open_sealed(e.account_id, sealed)
                    for sealed in (e.sealed_headline, e.sealed_about))
                row["worded"] = True
            elif isinstance(e, Record.VerificationChanged):
                row["level"] = e.new_level
            elif isinstance(e, Record.DisputeOpened):
                row["disputed"] = True
            elif isinstance(e, Record.DisputeResolved):
                row["disputed"] = False
            elif isinstance(e, Record.WorkDisowned | Record.DisownUndone):
                changes.attributions.append((row["researcher_id"], str(e.work_id),
                                             isinstance(e, Record.WorkDisowned)))
            elif isinstance(e, Record.WorkAdopted | Record.AdoptionUndone):
                # Both records carry the event: the adopter's says it once.
                if e.originator_id == record_id_for(e.adopter):
                    changes.adoptions.append((str(e.adopter), str(e.work_id), str(e.from_record),
                                              isinstance(e, Record.WorkAdopted)))
            elif isinstance(e, Record.AdoptionRequested | Record.AdoptionRequestClosed):
                return  # the request's own events keep the moderators' queue; no profile changes
            elif isinstance(e, Record.Linked | Record.Unlinked):
                # Both records carry the event: the member's says it once.
                if row["researcher_id"] == str(e.member):
                    changes.links.append((str(e.person), str(e.member), isinstance(e, Record.Linked)))
                changes.affected.update((str(e.person), str(e.member)))
            changes.affected.add(row["researcher_id"])
