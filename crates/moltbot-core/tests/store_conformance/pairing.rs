//! Pairing cases: [`Pairing`](moltbot_core::store::Pairing)'s rules on top of the backend's
//! [`PairingRepo`](moltbot_core::store::PairingRepo). Times come from the fixture clock.

use std::collections::HashMap;
use std::sync::Arc;

use moltbot_core::access::{normalize_pairing_code, PAIRING_CODE_TTL_MS};
use moltbot_core::store::{
    ApprovalSource, PairingError, PairingOutcome, PairingRequest, PairingStatus, Store,
    DEFAULT_MAX_PENDING,
};

use super::{Fixture, START_MS};

const T0: i64 = START_MS;

fn created(outcome: PairingOutcome) -> PairingRequest {
    match outcome {
        PairingOutcome::Created(r) => r,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn ask_on(store: &Store, channel: &str, person: &str, email: Option<&str>) -> PairingOutcome {
    store
        .pairing()
        .request(channel, person, email, Some("Name"), DEFAULT_MAX_PENDING)
        .await
        .unwrap()
}

async fn ask(store: &Store, person: &str, email: Option<&str>) -> PairingOutcome {
    ask_on(store, "chat", person, email).await
}

/// The stored request of `channel` with `code` (which must exist).
async fn stored(store: &Store, channel: &str, code: &str) -> PairingRequest {
    store.pairing().get(channel, code).await.unwrap().unwrap()
}

/// A second handle on the fixture's data, opened as another process would; `None` when this
/// backend has no way to (the case is then skipped).
async fn another_handle(f: &Fixture) -> Option<Store> {
    match &f.reopen {
        Some(reopen) => Some(reopen(f.clock.clone()).await),
        None => {
            eprintln!("skipped: no second handle for this backend");
            None
        }
    }
}

pub async fn first_dm_creates_a_request_and_repeats_reuse_it(f: Fixture) {
    let pairing = f.store.pairing();
    let req = created(
        pairing
            .request(
                "chat",
                "P-ALICE",
                Some(" Alice@Example.com "),
                Some("  Name "),
                DEFAULT_MAX_PENDING,
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        normalize_pairing_code(&req.code).as_deref(),
        Some(req.code.as_str())
    );
    assert_eq!(req.channel, "chat");
    assert_eq!(req.person_id, "P-ALICE");
    assert_eq!(req.email.as_deref(), Some("alice@example.com"));
    assert_eq!(req.display_name.as_deref(), Some("Name"));
    assert_eq!(
        (req.requested_at, req.expires_at),
        (T0, T0 + PAIRING_CODE_TTL_MS)
    );
    assert_eq!(req.status, PairingStatus::Pending);
    assert_eq!(req.resolved_at, None);
    assert!(!req.reply_sent);
    assert_eq!(
        pairing.get("chat", &req.code).await.unwrap(),
        Some(req.clone())
    );

    // Codes are looked up case-insensitively; an unknown code is reported as such.
    assert!(pairing
        .mark_reply_sent("chat", &format!(" {} ", req.code.to_lowercase()))
        .await
        .unwrap());
    assert!(!pairing.mark_reply_sent("chat", "ZZZZZZZZ").await.unwrap());
    assert!(!pairing.mark_reply_sent("other", &req.code).await.unwrap());
    f.clock.advance(59 * 60 * 1000);
    match ask(&f.store, "P-ALICE", Some("alice@example.com")).await {
        PairingOutcome::Existing(again) => {
            assert_eq!(again.code, req.code);
            assert!(again.reply_sent);
        }
        other => panic!("expected Existing, got {other:?}"),
    }
    let fetched = pairing
        .get("chat", &req.code.to_lowercase())
        .await
        .unwrap()
        .unwrap();
    assert!(fetched.reply_sent);
    assert_eq!(pairing.get("other", &req.code).await.unwrap(), None);
    let pending = pairing.list_pending(Some("chat")).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pairing
        .list_pending(Some("other"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(pairing.list_pending(None).await.unwrap().len(), 1);
}

pub async fn at_most_three_pending_per_channel_until_they_expire(f: Fixture) {
    let mut first = Vec::new();
    for p in ["P1", "P2", "P3"] {
        first.push(created(ask(&f.store, p, None).await));
        f.clock.advance(1);
    }
    assert_eq!(
        ask(&f.store, "P4", None).await,
        PairingOutcome::LimitReached
    );
    // Someone who already asked still gets their code back at the limit.
    assert!(matches!(
        ask(&f.store, "P2", None).await,
        PairingOutcome::Existing(r) if r.code == first[1].code
    ));
    // Another channel has its own limit.
    created(ask_on(&f.store, "other", "P4", None).await);

    // Expiry is judged by the store's clock: the last of the three runs out at T0 + 2 + TTL.
    f.clock.set(T0 + PAIRING_CODE_TTL_MS - 1);
    assert_eq!(
        ask(&f.store, "P4", None).await,
        PairingOutcome::LimitReached
    );
    f.clock.set(T0 + 2 + PAIRING_CODE_TTL_MS);
    // The three expired (at exactly expires_at), so there is room again.
    let fourth = created(ask(&f.store, "P4", None).await);
    for old in &first {
        let row = stored(&f.store, "chat", &old.code).await;
        assert_eq!(row.status, PairingStatus::Expired);
        assert_eq!(row.resolved_at, Some(old.expires_at));
    }
    let pending = f.store.pairing().list_pending(Some("chat")).await.unwrap();
    assert_eq!(pending, vec![fourth]);
    // The first sender asking again after expiry gets a fresh code.
    let again = created(ask(&f.store, "P1", None).await);
    assert_ne!(again.code, first[0].code);
}

pub async fn expired_requests_are_not_listed_nor_approvable(f: Fixture) {
    let pairing = f.store.pairing();
    let req = created(ask(&f.store, "P-ALICE", Some("alice@example.com")).await);
    f.clock.advance(PAIRING_CODE_TTL_MS - 1);
    assert_eq!(pairing.list_pending(None).await.unwrap(), vec![req.clone()]);
    f.clock.advance(1);
    // Listing does not write, but hides requests past their expiry.
    assert!(pairing.list_pending(None).await.unwrap().is_empty());
    assert_eq!(
        stored(&f.store, "chat", &req.code).await.status,
        PairingStatus::Pending
    );
    // An expired request cannot be denied either.
    assert_eq!(pairing.deny("chat", &req.code).await.unwrap(), 0);
    let err = pairing.approve_code("chat", &req.code).await.unwrap_err();
    assert!(matches!(err, PairingError::Expired { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("pairing code {} for chat has expired", req.code)
    );
    assert!(!pairing
        .is_approved("chat", "P-ALICE", Some("alice@example.com"))
        .await
        .unwrap());
    let row = stored(&f.store, "chat", &req.code).await;
    assert_eq!(row.status, PairingStatus::Expired);
    assert_eq!(row.resolved_at, Some(req.expires_at));
}

pub async fn approving_a_code_allows_the_sender_by_id_or_email_and_queues_the_approval_dm(
    f: Fixture,
) {
    let pairing = f.store.pairing();
    let req = created(ask(&f.store, "P-ALICE", Some("alice@example.com")).await);
    f.clock.advance(1_000);

    let approval = pairing
        .approve_code("chat", &format!(" {} ", req.code.to_lowercase()))
        .await
        .unwrap();
    assert!(approval.had_pending_request);
    assert!(!approval.already_approved);
    let id = &approval.identity;
    assert_eq!(id.channel, "chat");
    assert_eq!(id.person_id.as_deref(), Some("P-ALICE"));
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert_eq!(id.display_name.as_deref(), Some("Name"));
    assert_eq!(id.source, ApprovalSource::Pairing);
    assert_eq!(id.request_code.as_deref(), Some(req.code.as_str()));
    assert_eq!(id.approved_at, T0 + 1_000);
    assert!(id.notify_pending);
    assert_eq!(id.notified_at, None);
    assert_eq!(id.label(), "alice@example.com");

    let row = stored(&f.store, "chat", &req.code).await;
    assert_eq!(row.status, PairingStatus::Approved);
    assert_eq!(row.resolved_at, Some(T0 + 1_000));
    assert!(pairing.list_pending(None).await.unwrap().is_empty());

    assert!(pairing.is_approved("chat", "P-ALICE", None).await.unwrap());
    assert!(pairing
        .is_approved("chat", "other-id", Some("ALICE@example.com"))
        .await
        .unwrap());
    assert!(!pairing.is_approved("chat", "P-BOB", None).await.unwrap());
    assert!(!pairing.is_approved("other", "P-ALICE", None).await.unwrap());
    assert!(!pairing.is_approved("chat", " ", Some(" ")).await.unwrap());

    // Approving the same code again is harmless, keeps the first resolution time and queues no
    // second DM.
    f.clock.advance(1_000);
    let again = pairing.approve_code("chat", &req.code).await.unwrap();
    assert!(!again.had_pending_request);
    assert!(again.already_approved);
    assert_eq!(
        stored(&f.store, "chat", &req.code).await.resolved_at,
        Some(T0 + 1_000)
    );
    assert_eq!(
        pairing.pending_notifications("chat").await.unwrap().len(),
        1
    );
    assert_eq!(pairing.list_approved(None).await.unwrap().len(), 1);
}

pub async fn unknown_and_malformed_codes_are_rejected(f: Fixture) {
    let pairing = f.store.pairing();
    let req = created(ask(&f.store, "P-ALICE", None).await);
    let unknown = if req.code == "ABCD2345" {
        "ABCD2346"
    } else {
        "ABCD2345"
    };
    for code in [unknown, "not a code", ""] {
        let err = pairing.approve_code("chat", code).await.unwrap_err();
        assert!(
            matches!(err, PairingError::UnknownCode { .. }),
            "{code}: {err:?}"
        );
    }
    let err = pairing.approve_code("chat", " abc ").await.unwrap_err();
    assert_eq!(err.to_string(), "unknown pairing code ABC for chat");
    // A valid code of another channel is unknown here.
    let err = pairing.approve_code("other", &req.code).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unknown pairing code {} for other", req.code)
    );
    assert_eq!(
        stored(&f.store, "chat", &req.code).await.status,
        PairingStatus::Pending
    );
}

pub async fn pair_by_email_without_a_request_approves_the_email_and_learns_the_id_later(
    f: Fixture,
) {
    let pairing = f.store.pairing();
    let approval = pairing
        .approve_identity("chat", " chat:Bob@Example.com ")
        .await
        .unwrap();
    assert!(!approval.had_pending_request);
    assert!(!approval.already_approved);
    assert_eq!(approval.identity.email.as_deref(), Some("bob@example.com"));
    assert_eq!(approval.identity.person_id, None);
    assert_eq!(approval.identity.display_name, None);
    assert_eq!(approval.identity.source, ApprovalSource::PairCommand);
    assert_eq!(approval.identity.request_code, None);
    assert_eq!(approval.identity.approved_at, T0);
    assert!(approval.identity.notify_pending);

    assert!(!pairing.is_approved("chat", "P-BOB", None).await.unwrap());
    assert!(pairing
        .is_approved("chat", "P-BOB", Some("bob@example.com"))
        .await
        .unwrap());
    // The first DM recorded Bob's person id with the approval.
    let stored = pairing.list_approved(Some("chat")).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].person_id.as_deref(), Some("P-BOB"));
    assert!(pairing.is_approved("chat", "P-BOB", None).await.unwrap());
    assert!(
        pairing
            .approve_identity("chat", "P-BOB")
            .await
            .unwrap()
            .already_approved
    );

    // An identity approved by id alone learns the email the same way.
    pairing.approve_identity("chat", "P-CID").await.unwrap();
    assert!(pairing
        .is_approved("chat", "P-CID", Some(" Cid@Example.com"))
        .await
        .unwrap());
    let cid = pairing
        .list_approved(Some("chat"))
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.person_id.as_deref() == Some("P-CID"))
        .unwrap();
    assert_eq!(cid.email.as_deref(), Some("cid@example.com"));
    assert!(pairing
        .is_approved("chat", "someone-else", Some("cid@example.com"))
        .await
        .unwrap());
}

pub async fn pair_of_a_pending_sender_approves_their_request_with_both_ids(f: Fixture) {
    let pairing = f.store.pairing();
    let req = created(ask(&f.store, "P-CAROL", Some("carol@example.com")).await);
    f.clock.advance(5);
    let approval = pairing
        .approve_identity("chat", "CAROL@example.com")
        .await
        .unwrap();
    assert!(approval.had_pending_request);
    assert!(!approval.already_approved);
    assert_eq!(approval.identity.person_id.as_deref(), Some("P-CAROL"));
    assert_eq!(
        approval.identity.email.as_deref(),
        Some("carol@example.com")
    );
    assert_eq!(approval.identity.display_name.as_deref(), Some("Name"));
    assert_eq!(approval.identity.source, ApprovalSource::PairCommand);
    assert_eq!(
        approval.identity.request_code.as_deref(),
        Some(req.code.as_str())
    );
    let row = stored(&f.store, "chat", &req.code).await;
    assert_eq!(row.status, PairingStatus::Approved);
    assert_eq!(row.resolved_at, Some(T0 + 5));

    // By person id works the same way, taking the email from the request.
    let req = created(ask(&f.store, "P-DAN", Some("dan@example.com")).await);
    let approval = pairing
        .approve_identity("chat", "chat:P-DAN")
        .await
        .unwrap();
    assert!(approval.had_pending_request);
    assert_eq!(approval.identity.email.as_deref(), Some("dan@example.com"));
    assert_eq!(
        stored(&f.store, "chat", &req.code).await.status,
        PairingStatus::Approved
    );

    // A person whose request expired is completed from it, without its code.
    let old = created(ask(&f.store, "P-EVA", Some("eva@example.com")).await);
    f.clock.advance(PAIRING_CODE_TTL_MS);
    let approval = pairing.approve_identity("chat", "P-EVA").await.unwrap();
    assert!(!approval.had_pending_request);
    assert_eq!(approval.identity.email.as_deref(), Some("eva@example.com"));
    assert_eq!(approval.identity.request_code, None);
    assert_eq!(
        stored(&f.store, "chat", &old.code).await.status,
        PairingStatus::Expired
    );

    for blank in ["  ", "chat:"] {
        let err = pairing.approve_identity("chat", blank).await.unwrap_err();
        assert!(
            matches!(err, PairingError::InvalidIdentity { .. }),
            "{err:?}"
        );
    }
}

pub async fn deny_by_code_person_id_or_email(f: Fixture) {
    let pairing = f.store.pairing();
    let a = created(ask(&f.store, "P-A", Some("a@example.com")).await);
    let b = created(ask(&f.store, "P-B", Some("b@example.com")).await);
    let c = created(ask(&f.store, "P-C", Some("c@example.com")).await);
    f.clock.advance(7);

    assert_eq!(
        pairing.deny("chat", &a.code.to_lowercase()).await.unwrap(),
        1
    );
    assert_eq!(pairing.deny("chat", "P-B").await.unwrap(), 1);
    assert_eq!(pairing.deny("chat", "chat:C@EXAMPLE.COM").await.unwrap(), 1);
    assert_eq!(pairing.deny("chat", "P-B").await.unwrap(), 0);
    assert_eq!(pairing.deny("chat", "").await.unwrap(), 0);
    assert_eq!(pairing.deny("chat", "P-NOBODY").await.unwrap(), 0);
    for r in [&a, &b, &c] {
        let row = stored(&f.store, "chat", &r.code).await;
        assert_eq!(row.status, PairingStatus::Denied);
        assert_eq!(row.resolved_at, Some(T0 + 7));
    }
    let err = pairing.approve_code("chat", &a.code).await.unwrap_err();
    assert!(matches!(err, PairingError::Denied { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("pairing code {} for chat was denied", a.code)
    );
    assert!(!pairing.is_approved("chat", "P-A", None).await.unwrap());
    // Denied requests free their slots; a new DM starts a new request.
    let again = created(ask(&f.store, "P-A", Some("a@example.com")).await);
    assert_ne!(again.code, a.code);
}

pub async fn revoke_removes_the_approval(f: Fixture) {
    let pairing = f.store.pairing();
    pairing.approve_identity("chat", "P-EVE").await.unwrap();
    assert!(pairing.is_approved("chat", "P-EVE", None).await.unwrap());
    assert!(!pairing.revoke("other", "P-EVE").await.unwrap());
    assert!(!pairing.revoke("chat", " ").await.unwrap());
    assert!(pairing.revoke("chat", "chat:P-EVE").await.unwrap());
    assert!(!pairing.is_approved("chat", "P-EVE", None).await.unwrap());
    assert!(!pairing.revoke("chat", "P-EVE").await.unwrap());

    // By email, for an identity stored with both.
    let req = created(ask(&f.store, "P-FAY", Some("fay@example.com")).await);
    pairing.approve_code("chat", &req.code).await.unwrap();
    assert!(pairing.revoke("chat", "FAY@example.com").await.unwrap());
    assert!(!pairing.is_approved("chat", "P-FAY", None).await.unwrap());
    assert!(pairing.list_approved(None).await.unwrap().is_empty());
    // Re-approving the old code restores access (and queues a new approval DM).
    let back = pairing.approve_code("chat", &req.code).await.unwrap();
    assert!(!back.already_approved);
    assert!(back.identity.notify_pending);
    assert!(pairing.is_approved("chat", "P-FAY", None).await.unwrap());
}

pub async fn approval_dms_are_queued_once_and_marked_sent(f: Fixture) {
    let pairing = f.store.pairing();
    let req = created(ask(&f.store, "P-GIL", Some("gil@example.com")).await);
    pairing.approve_code("chat", &req.code).await.unwrap();
    f.clock.advance(1);
    pairing
        .approve_identity("chat", "hal@example.com")
        .await
        .unwrap();
    pairing
        .approve_identity("other", "ivo@example.com")
        .await
        .unwrap();

    let queued = pairing.pending_notifications("chat").await.unwrap();
    let labels: Vec<&str> = queued.iter().map(|i| i.label()).collect();
    assert_eq!(labels, ["gil@example.com", "hal@example.com"]);
    assert_eq!(
        pairing.pending_notifications("other").await.unwrap().len(),
        1
    );
    assert!(pairing
        .pending_notifications("third")
        .await
        .unwrap()
        .is_empty());
    let all = pairing.list_approved(None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(pairing.list_approved(Some("chat")).await.unwrap().len(), 2);

    f.clock.advance(500);
    assert!(!pairing.mark_notified("chat", "").await.unwrap());
    assert!(pairing.mark_notified("chat", "P-GIL").await.unwrap());
    assert!(!pairing.mark_notified("chat", "P-GIL").await.unwrap());
    assert!(pairing
        .mark_notified("chat", "hal@example.com")
        .await
        .unwrap());
    assert!(pairing
        .pending_notifications("chat")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        pairing.pending_notifications("other").await.unwrap().len(),
        1
    );

    let row = stored(&f.store, "chat", &req.code).await;
    assert_eq!(row.notified_at, Some(T0 + 501));
    let approved = pairing.list_approved(Some("chat")).await.unwrap();
    assert_eq!(approved.len(), 2);
    assert!(approved
        .iter()
        .all(|i| !i.notify_pending && i.notified_at == Some(T0 + 501)));
}

pub async fn prune_resolved_deletes_only_old_finished_requests(f: Fixture) {
    let pairing = f.store.pairing();
    let approved = created(ask(&f.store, "P-A", None).await);
    pairing.approve_code("chat", &approved.code).await.unwrap();
    let denied = created(ask(&f.store, "P-B", None).await);
    pairing.deny("chat", &denied.code).await.unwrap();
    // Left pending on a channel nothing else touches: it runs out by time alone.
    let lapsed = created(ask_on(&f.store, "other", "P-C", None).await);
    f.clock.advance(PAIRING_CODE_TTL_MS / 2);
    let waiting = created(ask(&f.store, "P-E", None).await);
    f.clock.set(T0 + PAIRING_CODE_TTL_MS);
    let fresh = created(ask(&f.store, "P-D", None).await);

    assert_eq!(pairing.prune_resolved(T0).await.unwrap(), 0);
    assert_eq!(
        pairing.prune_resolved(f.store.now_ms() + 1).await.unwrap(),
        3
    );
    assert_eq!(pairing.get("chat", &approved.code).await.unwrap(), None);
    assert_eq!(pairing.get("chat", &denied.code).await.unwrap(), None);
    assert_eq!(pairing.get("other", &lapsed.code).await.unwrap(), None);
    assert_eq!(
        pairing.list_pending(None).await.unwrap(),
        vec![waiting, fresh]
    );
    // The approval itself stays.
    assert!(pairing.is_approved("chat", "P-A", None).await.unwrap());
    assert_eq!(pairing.prune_resolved(i64::MAX).await.unwrap(), 0);
}

pub async fn an_approval_from_another_handle_is_seen(f: Fixture) {
    let Some(cli) = another_handle(&f).await else {
        return;
    };
    let req = created(ask(&f.store, "P-IVY", Some("ivy@example.com")).await);
    // The CLI approves through its own handle on the same data.
    let approval = cli.pairing().approve_code("chat", &req.code).await.unwrap();
    assert_eq!(approval.identity.person_id.as_deref(), Some("P-IVY"));

    let gateway = f.store.pairing();
    assert!(gateway.is_approved("chat", "P-IVY", None).await.unwrap());
    let queued = gateway.pending_notifications("chat").await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].person_id.as_deref(), Some("P-IVY"));
}

/// Checks a set of concurrent request outcomes: exactly `DEFAULT_MAX_PENDING` created, each
/// for a different sender, every repeat given that sender's code, everyone else refused.
async fn check_limit_held(store: &Store, outcomes: &[(String, PairingOutcome)]) {
    let codes: HashMap<&str, &str> = outcomes
        .iter()
        .filter_map(|(person, outcome)| match outcome {
            PairingOutcome::Created(r) => Some((person.as_str(), r.code.as_str())),
            _ => None,
        })
        .collect();
    let created = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, PairingOutcome::Created(_)))
        .count();
    assert_eq!(created, DEFAULT_MAX_PENDING, "{outcomes:?}");
    assert_eq!(codes.len(), DEFAULT_MAX_PENDING, "one code per sender");
    for (person, outcome) in outcomes {
        match outcome {
            PairingOutcome::Created(_) => {}
            PairingOutcome::Existing(r) => {
                assert_eq!(Some(&r.code.as_str()), codes.get(person.as_str()));
            }
            PairingOutcome::LimitReached => assert!(!codes.contains_key(person.as_str())),
        }
    }
    let pending = store.pairing().list_pending(Some("chat")).await.unwrap();
    assert_eq!(pending.len(), DEFAULT_MAX_PENDING);
    assert!(pending
        .iter()
        .all(|r| codes.get(r.person_id.as_str()) == Some(&r.code.as_str())));
}

pub async fn concurrent_requests_from_many_tasks_never_exceed_the_limit(f: Fixture) {
    const TASKS: usize = 24;
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (store, start) = (f.store.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                // Eight senders, each DMing from three tasks at once.
                let person = format!("P{}", i % 8);
                start.wait().await;
                let outcome = ask(&store, &person, None).await;
                (person, outcome)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    check_limit_held(&f.store, &outcomes).await;
}

pub async fn concurrent_requests_from_two_handles_respect_the_limit(f: Fixture) {
    let Some(second) = another_handle(&f).await else {
        return;
    };
    let handles = [f.store.clone(), second];
    let start = Arc::new(tokio::sync::Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, start) = (handles[w % 2].clone(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                let mut outcomes = Vec::new();
                for i in 0..5 {
                    // Each sender DMs through both handles at once.
                    let person = format!("P{}", (w / 2) * 5 + i);
                    let outcome = ask(&store, &person, None).await;
                    outcomes.push((person, outcome));
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.unwrap());
    }
    check_limit_held(&handles[1], &outcomes).await;
}
