"""HistoryProjection: catalogue, claims, follows and accounts events -> each record's and claim's
history, and the spans time travel reads.

What is public and what is personal: the public sees what happened to a record (imported,
works added or corrected, claimed, verification changed, disputes and the invitations they
freeze, followers per day) and the role of who did it. Account ids, free text written by people
(reasons, questions) and evidence details are personal: the record's owner, the claimant and
moderators see them. Reasons the system gives are public.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.accounts.model import Account
from domain.catalogue.model import Researcher, Work
from domain.claims.flag import Flag
from domain.claims.model import Claim, Record
from domain.follows.application import Follows
from domain.follows.model import Follow
from domain.profile_counts import CountedOnProfile
from projections.bulk import RawLog
from projections.history.view import SEALED_REASON_KINDS, Entry, HistoryChanges, HistoryView, stamp

SYSTEM_ACTORS = ("system", "vouching")
ERASED_REASON = "erased"  # a sealed reason whose writer was erased before this view read it
# A re-import that changes only these (each refresh of OpenAlex's citation counts) is no event in
# the authors' histories: it would add one to every co-author's history each time, and no profile
# or trust figure depends on it.
QUIET_FIELDS = frozenset({"cited_by_count"})
# Claim events that also go into the record's own history (the rest stay in the claim's).
RECORD_CLAIM_EVENTS = (Claim.Opened, Claim.Approved, Claim.Rejected, Claim.Withdrawn, Claim.Appealed)


def ref(e: Any) -> str:
    return f"{e.originator_id.hex}:{e.originator_version:09d}"


def role_of(actor: str, default: str) -> tuple[str, str | None]:
    return ("system", None) if actor in SYSTEM_ACTORS else (default, actor)


ADOPTION_EVENTS = (Record.WorkAdopted, Record.AdoptionUndone, Record.AdoptionRequested, Record.AdoptionRequestClosed)


class HistoryProjection(Projection[HistoryView]):
    name = "history"
    topics = ()

    def apply_log(self, log: RawLog) -> int:
        """A from-scratch build's set-wise pass over a whole log (projections/bulk.py): the follows
        log, most of every store's events; the others go event by event."""
        return self.view.apply_follows_log(log) if log.application == Follows.name else 0

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        changes = HistoryChanges()
        app = tracking.application_name
        corrected = [str(e.originator_id) for e in events if isinstance(e, Work.Corrected)]
        authors = self.view.authors_of(corrected) if corrected else {}
        later = [str(e.originator_id) for e in events if isinstance(e, Claim.Event) and not isinstance(e, Claim.Opened)]
        claims = self.view.claims_of(later) if later else {}
        started = [str(e.originator_id) for e in events if isinstance(e, Record.Event) and not isinstance(e, Record.Started)]
        changes.records = self.view.researchers_of_records(started) if started else {}
        for e in events:
            at = stamp(e.timestamp)
            if isinstance(e, Researcher.Registered):
                rid = str(e.originator_id)
                changes.entries.append(Entry(rid, at, app, ref(e), "catalogue", "record.imported", "system", None,
                                             None, True, {"openalex_id": e.openalex_id, "display_name": e.display_name,
                                                          "orcid": e.orcid}, {}, []))
            elif isinstance(e, Work.Imported):
                wid = str(e.originator_id)
                named = authors.setdefault(wid, set())
                named.update(a["researcher_id"] for a in e.authorships)
                summary = {"work_id": wid, "openalex_id": e.openalex_id, "title": e.title,
                           "publication_year": e.publication_year}
                for rid in sorted(named):
                    changes.works.add((rid, wid))
                    changes.entries.append(Entry(rid, at, app, ref(e), "catalogue", "work.added", "system", None,
                                                 None, True, summary, {}, []))
            elif isinstance(e, Work.Corrected):
                wid = str(e.originator_id)
                named = authors.setdefault(wid, set())
                named.update(a["researcher_id"] for a in e.changes.get("authorships", ()))
                if set(e.changes) <= QUIET_FIELDS:
                    changes.works.update((rid, wid) for rid in named)
                    continue
                summary = {"work_id": wid, "fields": sorted(e.changes),
                           **{k: v for k, v in e.changes.items() if k not in ("authorships", "abstract")}}
                for rid in sorted(named):
                    changes.works.add((rid, wid))
                    changes.entries.append(Entry(rid, at, app, ref(e), "catalogue", "work.corrected", "system",
                                                 None, None, True, summary, {}, []))
            elif isinstance(e, CountedOnProfile):
                self._counted(changes, app, at, e)
            elif isinstance(e, Claim.Event):
                self._claim(changes, claims, app, at, e)
            elif isinstance(e, Record.WorkDisowned | Record.DisownUndone):
                self._attribution(changes, app, at, e)
            elif isinstance(e, Record.Linked | Record.Unlinked | Record.LinkRequested | Record.LinkRequestClosed):
                self._link(changes, app, at, e)
            elif isinstance(e, ADOPTION_EVENTS):
                self._adoption(changes, app, at, e)
            elif isinstance(e, Record.Event):
                self._record(changes, app, at, e)
            elif isinstance(e, Flag.Raised | Flag.Decided):
                self._flag(changes, app, at, e)
            elif isinstance(e, Follow.Started | Follow.Followed | Follow.Unfollowed):
                on = not isinstance(e, Follow.Unfollowed)
                researcher, follower = str(e.researcher_id), str(e.account_id)
                changes.follows.append((researcher, follower, at, on))
                day = changes.follow_days.setdefault((researcher, at[:10]), [at, 0, 0])
                day[1 if on else 2] += 1
            elif isinstance(e, Account.Erased):
                changes.erased.append(str(e.originator_id))
            elif isinstance(e, Account.EmailConfirmed):
                changes.confirmed.append((str(e.originator_id), at))
        self.view.apply_batch(changes, tracking)

    @staticmethod
    def _claim(changes: HistoryChanges, claims: dict[str, tuple[str, str]], app: str, at: str, e: Any) -> None:
        cid = str(e.originator_id)
        if isinstance(e, Claim.Opened):
            claims[cid] = (str(e.researcher_id), str(e.account_id))
            changes.claims.append((cid, str(e.researcher_id), str(e.account_id)))
        if cid not in claims:
            return  # a claim this view has not seen opened (events arrive in order)
        researcher, claimant = claims[cid]
        role, actor, reason, public, personal = "claimant", claimant, None, {"claim_id": cid}, {}
        if isinstance(e, Claim.Opened):
            kind = "claim.opened"
            public["evidence"] = sorted({item["kind"] for item in e.evidence})
            public["disputes_owner"] = e.disputes_owner is not None
        elif isinstance(e, Claim.EvidenceAdded):
            kind, public["evidence"] = "evidence.added", sorted({item["kind"] for item in e.evidence})
        elif isinstance(e, Claim.EvidenceVerified):
            kind, role, actor, public["evidence_id"] = "evidence.verified", "system", None, e.evidence_id
        elif isinstance(e, Claim.EvidenceFailed):
            kind, role, actor, public["evidence_id"], reason = "evidence.failed", "system", None, e.evidence_id, e.reason
        elif isinstance(e, Claim.EmailCodeIssued):
            kind, role, actor, public["evidence_id"] = "evidence.code_sent", "system", None, e.evidence_id
        elif isinstance(e, Claim.InfoRequested):
            kind, role, actor, reason = "claim.info_requested", "moderator", str(e.moderator_id), e.question
        elif isinstance(e, Claim.Approved):
            kind, public["level"], reason = "claim.approved", e.level, e.reason
            role, actor = role_of(e.decided_by, "moderator")
        elif isinstance(e, Claim.Rejected):
            kind, reason = "claim.rejected", e.reason
            role, actor = role_of(e.decided_by, "moderator")
        elif isinstance(e, Claim.Withdrawn):
            kind = "claim.withdrawn"
        elif isinstance(e, Claim.Appealed):
            kind, reason = "claim.appealed", e.reason
        else:
            return
        personal["claimant"] = claimant
        entry = Entry(cid, at, app, ref(e), "claims", kind, role, actor, reason, role == "system", public,
                      personal, [claimant])
        changes.entries.append(entry)
        if isinstance(e, RECORD_CLAIM_EVENTS):
            changes.entries.append(Entry(researcher, at, app, ref(e), "claims", kind, role, actor, reason,
                                         role == "system", public, personal, [claimant]))

    def __init__(self, view: HistoryView, open_sealed: Callable[[UUID, str], str | None] | None = None) -> None:
        super().__init__(view)
        # Opens reasons people sealed with their key (attribution); None once the key is destroyed.
        self.open_sealed = open_sealed or (lambda _subject, _sealed: None)

    def _attribution(self, changes: HistoryChanges, app: str, at: str, e: Any) -> None:
        """"Not mine" and its undoing: public with the role of who decided; the reason is personal
        (its writer's, the record's owners then, moderators) and reads "erased" once its writer is."""
        researcher = changes.records.get(str(e.originator_id))
        if researcher is None:
            return
        disowned = isinstance(e, Record.WorkDisowned)
        public = {"work_id": str(e.work_id), "decision": "not_mine" if disowned else "undone"}
        self._sealed_entry(changes, researcher, at, app, e, "attribution.changed", e.role, str(e.account_id),
                           e.sealed_reason if disowned else None, public, record=str(e.originator_id))

    def _sealed_entry(self, changes: HistoryChanges, subject: str, at: str, app: str, e: Any, kind: str, role: str,
                      actor: str, sealed: str | None, public: dict[str, Any], personal: dict[str, Any] | None = None,
                      record: str | None = None) -> None:
        """An entry whose reason, if any, its actor sealed with their key: opened now, "erased" once
        the key is gone, and shredded by the view when the actor is erased later, as a rebuild
        would write it (the view's SEALED_REASON_KINDS must name the kind)."""
        if sealed is not None and kind not in SEALED_REASON_KINDS:
            raise ValueError(f"{kind} entries carry sealed reasons: add the kind to SEALED_REASON_KINDS")
        reason = None if sealed is None else self.open_sealed(UUID(actor), sealed) or ERASED_REASON
        changes.entries.append(Entry(subject, at, app, ref(e), "claims", kind, role, actor, reason, False, public,
                                     personal or {}, [actor], record=record))

    @staticmethod
    def _counted(changes: HistoryChanges, app: str, at: str, e: Any) -> None:
        """An event counted on a profile (domain/profile_counts.py): an entry in the counted
        researcher's history, public with its count and the role of who caused it."""
        actor = getattr(e, "account_id", None)
        parties = [] if actor is None else [str(actor)]
        changes.entries.append(Entry(e.counted_on(), at, app, ref(e), app.lower(), e.history, e.role,
                                     None if actor is None else str(actor), None, False,
                                     {"count": e.count, "delta": e.delta}, {}, parties))

    def _link(self, changes: HistoryChanges, app: str, at: str, e: Any) -> None:
        """Links between records, in each record's history: public with the role of who did it;
        a moderator's reason is personal (sealed with their key, "erased" once they are)."""
        researcher = changes.records.get(str(e.originator_id))
        if researcher is None:
            return
        if isinstance(e, Record.Linked):
            kind, role, actor = "link.added", e.role, str(e.account_id)
            public = {"person": str(e.person), "record": str(e.member), "evidence": e.evidence_kind,
                      "request_id": None if e.request_id is None else str(e.request_id)}
        elif isinstance(e, Record.Unlinked):
            kind, role, actor = "link.removed", e.role, str(e.account_id)
            public = {"person": str(e.person), "record": str(e.member)}
        elif isinstance(e, Record.LinkRequested):
            kind, role, actor = "link.requested", "owner", str(e.account_id)
            public = {"person": str(e.person), "record": researcher, "request_id": str(e.request_id)}
        elif e.outcome == "rejected":
            kind, role, actor = "link.rejected", "moderator", str(e.moderator_id)
            public = {"record": researcher, "request_id": str(e.request_id)}
        else:
            return  # an approval is the link.added entry of the same save
        self._sealed_entry(changes, researcher, at, app, e, kind, role, actor, getattr(e, "sealed_reason", None),
                           public, record=str(e.originator_id))

    def _adoption(self, changes: HistoryChanges, app: str, at: str, e: Any) -> None:
        """Adoptions, in the histories of both records (the adopter's and the one the work was
        taken from): public with the role of who did it; a moderator's reason is personal (sealed
        with their key, "erased" once they are)."""
        researcher = changes.records.get(str(e.originator_id))
        if researcher is None:
            return
        public: dict[str, Any] = {"work_id": str(e.work_id), "adopter": str(e.adopter),
                                  "from_record": str(e.from_record)}
        if isinstance(e, Record.WorkAdopted):
            kind, role, actor = "attribution.adopted", e.role, str(e.account_id)
            public |= {"evidence": e.evidence_kind, "request_id": None if e.request_id is None else str(e.request_id)}
        elif isinstance(e, Record.AdoptionUndone):
            kind, role, actor = "attribution.adoption_undone", e.role, str(e.account_id)
        elif isinstance(e, Record.AdoptionRequested):
            kind, role, actor = "attribution.adoption_requested", "owner", str(e.account_id)
            public["request_id"] = str(e.request_id)
        elif e.outcome == "rejected":
            kind, role, actor = "attribution.adoption_rejected", "moderator", str(e.moderator_id)
            public["request_id"] = str(e.request_id)
        else:
            return  # an approval is the attribution.adopted entry of the same save
        self._sealed_entry(changes, researcher, at, app, e, kind, role, actor, getattr(e, "sealed_reason", None),
                           public, record=str(e.originator_id))

    def _flag(self, changes: HistoryChanges, app: str, at: str, e: Any) -> None:
        """A flag on a record and its decision, in the record's history: public with the role of
        who acted (`reader`: anyone signed in); who raised it and the reasons are personal (each
        reason sealed with its writer's key, "erased" once they are)."""
        public = {"flag_id": str(e.originator_id), "work_id": str(e.work_id)}
        if isinstance(e, Flag.Raised):
            kind, role, actor, personal = "flag.raised", "reader", str(e.account_id), {"flagged_by": str(e.account_id)}
        else:  # the flagger's erasure leaves the moderator's words alone
            kind, role, actor, personal = f"flag.{e.outcome}", "moderator", str(e.moderator_id), {}
        self._sealed_entry(changes, str(e.researcher_id), at, app, e, kind, role, actor, e.sealed_reason, public,
                           personal)

    @staticmethod
    def _record(changes: HistoryChanges, app: str, at: str, e: Any) -> None:
        record = str(e.originator_id)
        if isinstance(e, Record.Started):
            changes.spans.append((record, at, {"researcher": str(e.researcher_id), "level": e.level}))
            changes.records[record] = str(e.researcher_id)
            return
        researcher = changes.records.get(record)
        if researcher is None:
            return  # a record always starts with Started; nothing to attach this to
        role, actor, reason, public, personal, parties = "system", None, None, {}, {}, []
        if isinstance(e, Record.OwnerSet):
            kind, public, personal = "owner.set", {"claimed": True, "claim_id": str(e.claim_id)}, {"owner": str(e.account_id)}
            parties = [str(e.account_id)]
            changes.spans.append((record, at, {"owner": str(e.account_id)}))
        elif isinstance(e, Record.OwnerRemoved):
            kind, public, reason = "owner.removed", {"claimed": False, "how": e.how}, e.reason
            role, actor = role_of(e.actor, "owner" if e.how == "released" else "moderator")
            personal, parties = {"owner": str(e.account_id)}, [str(e.account_id)]
            changes.spans.append((record, at, {"owner": None}))
        elif isinstance(e, Record.VerificationChanged):
            kind, reason = "verification.changed", e.reason
            public = {"old_level": e.old_level, "new_level": e.new_level,
                      "evidence": sorted({item["kind"] for item in e.evidence})}
            # The claims application words an owner's own release "released by its owner: ...".
            role, actor = role_of(e.actor, "owner" if e.reason.startswith("released by its owner") else "moderator")
            changes.spans.append((record, at, {"level": e.new_level}))
        elif isinstance(e, Record.DisputeOpened):
            kind, public = "dispute.opened", {"claim_id": str(e.claim_id), "invitations": "frozen"}
            role, actor, parties = "claimant", str(e.account_id), [str(e.account_id)]
            changes.spans.append((record, at, {"disputed": 1}))
        elif isinstance(e, Record.DisputeResolved):
            kind, public = "dispute.resolved", {"claim_id": str(e.claim_id), "outcome": e.outcome, "invitations": "open"}
            role, actor = role_of(e.actor, "claimant" if e.outcome == "withdrawn" else "moderator")
            changes.spans.append((record, at, {"disputed": 0}))
        elif isinstance(e, Record.Vouched):
            kind, role, actor = "record.vouched", "voucher", str(e.account_id)
            personal, parties = {"voucher_record": str(e.voucher_record)}, [str(e.account_id)]
        elif isinstance(e, Record.ProfileTextChanged):  # what is shown now is on the profile itself
            kind, role, actor = "profile.edited", "owner", str(e.account_id)
            public = {"headline": e.sealed_headline is not None, "about": e.sealed_about is not None}
            parties = [str(e.account_id)]
        else:
            return  # ClaimOpened and ClaimClosed repeat the claim's own events
        changes.entries.append(Entry(researcher, at, app, ref(e), "claims", kind, role, actor, reason,
                                     role == "system", public, personal, parties, record=record))
