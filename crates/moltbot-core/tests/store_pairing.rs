//! Pairing requests and approved identities in the state store (times from a ManualClock).

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::{Arc, Barrier};
use std::thread;

use moltbot_core::access::{normalize_pairing_code, PAIRING_CODE_TTL_MS};
use moltbot_core::store::{
    ApprovalSource, ManualClock, PairingError, PairingOutcome, PairingRequest, PairingStatus,
    Store, DEFAULT_MAX_PENDING,
};

const T0: i64 = 1_700_000_000_000;

fn store_at(clock: &ManualClock) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
    (dir, store)
}

fn created(outcome: PairingOutcome) -> PairingRequest {
    match outcome {
        PairingOutcome::Created(r) => r,
        other => panic!("expected Created, got {other:?}"),
    }
}

fn ask(store: &Store, person: &str, email: Option<&str>) -> PairingOutcome {
    store
        .pairing()
        .request_blocking("chat", person, email, Some("Name"), DEFAULT_MAX_PENDING)
        .unwrap()
}

#[test]
fn first_dm_creates_a_request_and_repeats_reuse_it() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let req = created(ask(&store, "P-ALICE", Some(" Alice@Example.com ")));
    assert_eq!(
        normalize_pairing_code(&req.code).as_deref(),
        Some(req.code.as_str())
    );
    assert_eq!(req.person_id, "P-ALICE");
    assert_eq!(req.email.as_deref(), Some("alice@example.com"));
    assert_eq!(req.display_name.as_deref(), Some("Name"));
    assert_eq!(
        (req.requested_at, req.expires_at),
        (T0, T0 + PAIRING_CODE_TTL_MS)
    );
    assert_eq!(req.status, PairingStatus::Pending);
    assert!(!req.reply_sent);

    assert!(store
        .pairing()
        .mark_reply_sent_blocking("chat", &req.code)
        .unwrap());
    clock.advance(59 * 60 * 1000);
    match ask(&store, "P-ALICE", Some("alice@example.com")) {
        PairingOutcome::Existing(again) => {
            assert_eq!(again.code, req.code);
            assert!(again.reply_sent);
        }
        other => panic!("expected Existing, got {other:?}"),
    }
    let pending = store.pairing().list_pending_blocking(Some("chat")).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(store
        .pairing()
        .list_pending_blocking(Some("other"))
        .unwrap()
        .is_empty());
    assert_eq!(
        store.pairing().list_pending_blocking(None).unwrap().len(),
        1
    );
}

#[test]
fn at_most_three_pending_per_channel_until_they_expire() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let first: Vec<_> = ["P1", "P2", "P3"]
        .iter()
        .map(|p| created(ask(&store, p, None)))
        .collect();
    assert_eq!(ask(&store, "P4", None), PairingOutcome::LimitReached);
    // Someone who already asked still gets their code back at the limit.
    assert!(matches!(
        ask(&store, "P2", None),
        PairingOutcome::Existing(_)
    ));
    // Another channel has its own limit.
    assert!(matches!(
        store
            .pairing()
            .request_blocking("other", "P4", None, None, DEFAULT_MAX_PENDING)
            .unwrap(),
        PairingOutcome::Created(_)
    ));

    clock.advance(PAIRING_CODE_TTL_MS - 1);
    assert_eq!(ask(&store, "P4", None), PairingOutcome::LimitReached);
    clock.advance(1);
    // The three expired (at exactly expires_at), so there is room again.
    let fourth = created(ask(&store, "P4", None));
    for old in &first {
        let row = store
            .pairing()
            .get_blocking("chat", &old.code)
            .unwrap()
            .unwrap();
        assert_eq!(row.status, PairingStatus::Expired);
        assert_eq!(row.resolved_at, Some(old.expires_at));
    }
    let pending = store.pairing().list_pending_blocking(Some("chat")).unwrap();
    assert_eq!(pending, vec![fourth]);
    // The first sender asking again after expiry gets a fresh code.
    let again = created(ask(&store, "P1", None));
    assert_ne!(again.code, first[0].code);
}

#[test]
fn expired_requests_are_not_listed_nor_approvable() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let req = created(ask(&store, "P-ALICE", Some("alice@example.com")));
    clock.advance(PAIRING_CODE_TTL_MS);
    // Listing does not write, but hides requests past their expiry.
    assert!(store
        .pairing()
        .list_pending_blocking(None)
        .unwrap()
        .is_empty());
    let err = store
        .pairing()
        .approve_code_blocking("chat", &req.code)
        .unwrap_err();
    assert!(matches!(err, PairingError::Expired { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("pairing code {} for chat has expired", req.code)
    );
    assert!(!store
        .pairing()
        .is_approved_blocking("chat", "P-ALICE", Some("alice@example.com"))
        .unwrap());
}

#[test]
fn approving_a_code_allows_the_sender_by_id_or_email_and_queues_the_approval_dm() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    let req = created(ask(&store, "P-ALICE", Some("alice@example.com")));
    clock.advance(1_000);

    let approval = pairing
        .approve_code_blocking("chat", &format!(" {} ", req.code.to_lowercase()))
        .unwrap();
    assert!(approval.had_pending_request);
    assert!(!approval.already_approved);
    let id = &approval.identity;
    assert_eq!(id.person_id.as_deref(), Some("P-ALICE"));
    assert_eq!(id.email.as_deref(), Some("alice@example.com"));
    assert_eq!(id.display_name.as_deref(), Some("Name"));
    assert_eq!(id.source, ApprovalSource::Pairing);
    assert_eq!(id.request_code.as_deref(), Some(req.code.as_str()));
    assert_eq!(id.approved_at, T0 + 1_000);
    assert!(id.notify_pending);
    assert_eq!(id.label(), "alice@example.com");

    let row = pairing.get_blocking("chat", &req.code).unwrap().unwrap();
    assert_eq!(row.status, PairingStatus::Approved);
    assert_eq!(row.resolved_at, Some(T0 + 1_000));
    assert!(pairing.list_pending_blocking(None).unwrap().is_empty());

    assert!(pairing
        .is_approved_blocking("chat", "P-ALICE", None)
        .unwrap());
    assert!(pairing
        .is_approved_blocking("chat", "other-id", Some("ALICE@example.com"))
        .unwrap());
    assert!(!pairing.is_approved_blocking("chat", "P-BOB", None).unwrap());
    assert!(!pairing
        .is_approved_blocking("other", "P-ALICE", None)
        .unwrap());

    // Approving the same code again is harmless and queues no second DM.
    let again = pairing.approve_code_blocking("chat", &req.code).unwrap();
    assert!(!again.had_pending_request);
    assert!(again.already_approved);
    assert_eq!(
        pairing
            .pending_notifications_blocking("chat")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn unknown_and_malformed_codes_are_rejected() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let req = created(ask(&store, "P-ALICE", None));
    for code in ["ABCD2345", "not a code", ""] {
        let code = if code == "ABCD2345" && req.code == code {
            "ABCD2346"
        } else {
            code
        };
        let err = store
            .pairing()
            .approve_code_blocking("chat", code)
            .unwrap_err();
        assert!(
            matches!(err, PairingError::UnknownCode { .. }),
            "{code}: {err:?}"
        );
    }
    // A valid code of another channel is unknown here.
    let err = store
        .pairing()
        .approve_code_blocking("other", &req.code)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unknown pairing code {} for other", req.code)
    );
}

#[test]
fn pair_by_email_without_a_request_approves_the_email_and_learns_the_id_later() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    let approval = pairing
        .approve_identity_blocking("chat", " chat:Bob@Example.com ")
        .unwrap();
    assert!(!approval.had_pending_request);
    assert!(!approval.already_approved);
    assert_eq!(approval.identity.email.as_deref(), Some("bob@example.com"));
    assert_eq!(approval.identity.person_id, None);
    assert_eq!(approval.identity.source, ApprovalSource::PairCommand);
    assert_eq!(approval.identity.request_code, None);

    assert!(!pairing.is_approved_blocking("chat", "P-BOB", None).unwrap());
    assert!(pairing
        .is_approved_blocking("chat", "P-BOB", Some("bob@example.com"))
        .unwrap());
    // The first DM recorded Bob's person id with the approval.
    let stored = pairing.list_approved_blocking(Some("chat")).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].person_id.as_deref(), Some("P-BOB"));
    assert!(pairing.is_approved_blocking("chat", "P-BOB", None).unwrap());
    assert!(
        pairing
            .approve_identity_blocking("chat", "P-BOB")
            .unwrap()
            .already_approved
    );
}

#[test]
fn pair_of_a_pending_sender_approves_their_request_with_both_ids() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    let req = created(ask(&store, "P-CAROL", Some("carol@example.com")));
    let approval = pairing
        .approve_identity_blocking("chat", "CAROL@example.com")
        .unwrap();
    assert!(approval.had_pending_request);
    assert_eq!(approval.identity.person_id.as_deref(), Some("P-CAROL"));
    assert_eq!(
        approval.identity.email.as_deref(),
        Some("carol@example.com")
    );
    assert_eq!(
        approval.identity.request_code.as_deref(),
        Some(req.code.as_str())
    );
    let row = pairing.get_blocking("chat", &req.code).unwrap().unwrap();
    assert_eq!(row.status, PairingStatus::Approved);

    // By person id works the same way, taking the email from the request.
    let req = created(ask(&store, "P-DAN", Some("dan@example.com")));
    let approval = pairing
        .approve_identity_blocking("chat", "chat:P-DAN")
        .unwrap();
    assert!(approval.had_pending_request);
    assert_eq!(approval.identity.email.as_deref(), Some("dan@example.com"));
    assert_eq!(
        pairing
            .get_blocking("chat", &req.code)
            .unwrap()
            .unwrap()
            .status,
        PairingStatus::Approved
    );

    let err = pairing.approve_identity_blocking("chat", "  ").unwrap_err();
    assert!(matches!(err, PairingError::InvalidIdentity { .. }));
}

#[test]
fn deny_by_code_person_id_or_email() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    let a = created(ask(&store, "P-A", Some("a@example.com")));
    let b = created(ask(&store, "P-B", Some("b@example.com")));
    let c = created(ask(&store, "P-C", Some("c@example.com")));

    assert_eq!(
        pairing
            .deny_blocking("chat", &a.code.to_lowercase())
            .unwrap(),
        1
    );
    assert_eq!(pairing.deny_blocking("chat", "P-B").unwrap(), 1);
    assert_eq!(
        pairing.deny_blocking("chat", "chat:C@EXAMPLE.COM").unwrap(),
        1
    );
    assert_eq!(pairing.deny_blocking("chat", "P-B").unwrap(), 0);
    assert_eq!(pairing.deny_blocking("chat", "").unwrap(), 0);
    for r in [&a, &b, &c] {
        let row = pairing.get_blocking("chat", &r.code).unwrap().unwrap();
        assert_eq!(row.status, PairingStatus::Denied);
    }
    let err = pairing.approve_code_blocking("chat", &a.code).unwrap_err();
    assert!(matches!(err, PairingError::Denied { .. }));
    assert!(!pairing.is_approved_blocking("chat", "P-A", None).unwrap());
    // Denied requests free their slots; a new DM starts a new request.
    let again = created(ask(&store, "P-A", Some("a@example.com")));
    assert_ne!(again.code, a.code);
}

#[test]
fn revoke_removes_the_approval() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    pairing.approve_identity_blocking("chat", "P-EVE").unwrap();
    assert!(pairing.is_approved_blocking("chat", "P-EVE", None).unwrap());
    assert!(!pairing.revoke_blocking("other", "P-EVE").unwrap());
    assert!(pairing.revoke_blocking("chat", "chat:P-EVE").unwrap());
    assert!(!pairing.is_approved_blocking("chat", "P-EVE", None).unwrap());
    assert!(!pairing.revoke_blocking("chat", "P-EVE").unwrap());

    // By email, for an identity stored with both.
    let req = created(ask(&store, "P-FAY", Some("fay@example.com")));
    pairing.approve_code_blocking("chat", &req.code).unwrap();
    assert!(pairing.revoke_blocking("chat", "FAY@example.com").unwrap());
    assert!(!pairing.is_approved_blocking("chat", "P-FAY", None).unwrap());
    // Re-approving the old code restores access (and queues a new approval DM).
    let back = pairing.approve_code_blocking("chat", &req.code).unwrap();
    assert!(!back.already_approved);
    assert!(pairing.is_approved_blocking("chat", "P-FAY", None).unwrap());
}

#[test]
fn approval_dms_are_queued_once_and_marked_sent() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    let req = created(ask(&store, "P-GIL", Some("gil@example.com")));
    pairing.approve_code_blocking("chat", &req.code).unwrap();
    pairing
        .approve_identity_blocking("chat", "hal@example.com")
        .unwrap();

    let queued = pairing.pending_notifications_blocking("chat").unwrap();
    let labels: Vec<&str> = queued.iter().map(|i| i.label()).collect();
    assert_eq!(labels, ["gil@example.com", "hal@example.com"]);
    assert!(pairing
        .pending_notifications_blocking("other")
        .unwrap()
        .is_empty());

    clock.advance(500);
    assert!(pairing.mark_notified_blocking("chat", "P-GIL").unwrap());
    assert!(!pairing.mark_notified_blocking("chat", "P-GIL").unwrap());
    assert!(pairing
        .mark_notified_blocking("chat", "hal@example.com")
        .unwrap());
    assert!(pairing
        .pending_notifications_blocking("chat")
        .unwrap()
        .is_empty());

    let row = pairing.get_blocking("chat", &req.code).unwrap().unwrap();
    assert_eq!(row.notified_at, Some(T0 + 500));
    let approved = pairing.list_approved_blocking(Some("chat")).unwrap();
    assert!(approved
        .iter()
        .all(|i| !i.notify_pending && i.notified_at == Some(T0 + 500)));
}

#[test]
fn an_approval_from_another_process_is_seen_by_the_running_gateway() {
    let clock = ManualClock::new(T0);
    let (dir, gateway) = store_at(&clock);
    let req = created(ask(&gateway, "P-IVY", Some("ivy@example.com")));

    // The CLI opens its own handle on the same file.
    let cli = Store::open_with_clock(dir.path().join("s.sqlite"), Arc::new(clock.clone())).unwrap();
    let approval = cli
        .pairing()
        .approve_code_blocking("chat", &req.code)
        .unwrap();
    assert_eq!(approval.identity.person_id.as_deref(), Some("P-IVY"));

    assert!(gateway
        .pairing()
        .is_approved_blocking("chat", "P-IVY", None)
        .unwrap());
    let queued = gateway
        .pairing()
        .pending_notifications_blocking("chat")
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].person_id.as_deref(), Some("P-IVY"));
}

#[test]
fn concurrent_requests_from_two_handles_respect_the_limit() {
    let clock = ManualClock::new(T0);
    let (dir, _store) = store_at(&clock);
    let path = dir.path().join("s.sqlite");
    let barrier = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (path, barrier, clock) = (path.clone(), Arc::clone(&barrier), clock.clone());
            thread::spawn(move || {
                let store = Store::open_with_clock(&path, Arc::new(clock)).unwrap();
                barrier.wait();
                (0..5)
                    .filter(|i| {
                        // Each sender DMs from two threads at once.
                        let person = format!("P{}", (w % 2) * 5 + i);
                        matches!(ask(&store, &person, None), PairingOutcome::Created(_))
                    })
                    .count()
            })
        })
        .collect();
    let created: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(created, DEFAULT_MAX_PENDING);
    let store = Store::open_with_clock(&path, Arc::new(clock)).unwrap();
    assert_eq!(
        store.pairing().list_pending_blocking(None).unwrap().len(),
        3
    );
}

#[tokio::test]
async fn async_forms_work() {
    let clock = ManualClock::new(T0);
    let (_dir, store) = store_at(&clock);
    let pairing = store.pairing();
    let req = match pairing
        .request(
            "chat",
            "P-JO",
            Some("jo@example.com"),
            None,
            DEFAULT_MAX_PENDING,
        )
        .await
        .unwrap()
    {
        PairingOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    };
    assert!(pairing.mark_reply_sent("chat", &req.code).await.unwrap());
    assert_eq!(pairing.list_pending(Some("chat")).await.unwrap().len(), 1);
    assert!(
        pairing
            .get("chat", &req.code)
            .await
            .unwrap()
            .unwrap()
            .reply_sent
    );
    assert!(!pairing.is_approved("chat", "P-JO", None).await.unwrap());
    pairing.approve_code("chat", &req.code).await.unwrap();
    assert!(pairing.is_approved("chat", "P-JO", None).await.unwrap());
    assert!(matches!(
        pairing.approve_code("chat", "ZZZZZZZZ").await,
        Err(PairingError::UnknownCode { .. })
    ));
    assert_eq!(
        pairing.pending_notifications("chat").await.unwrap().len(),
        1
    );
    assert!(pairing
        .mark_notified("chat", "jo@example.com")
        .await
        .unwrap());
    assert!(
        pairing
            .approve_identity("chat", "kim@example.com")
            .await
            .unwrap()
            .identity
            .notify_pending
    );
    assert_eq!(pairing.list_approved(None).await.unwrap().len(), 2);
    assert!(pairing.revoke("chat", "kim@example.com").await.unwrap());
    assert_eq!(pairing.deny("chat", "P-NOBODY").await.unwrap(), 0);
    clock.advance(2 * PAIRING_CODE_TTL_MS);
    assert_eq!(pairing.prune_resolved(T0 + 1).await.unwrap(), 1);
}

#[test]
fn a_version_1_store_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        moltbot_core::store::migrations::apply(
            &mut conn,
            &moltbot_core::store::migrations::MIGRATIONS[..1],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO kv (namespace, key, value, updated_at) VALUES ('n', 'k', 'v', 0)",
            [],
        )
        .unwrap();
    }
    let clock = ManualClock::new(T0);
    let store = Store::open_with_clock(&path, Arc::new(clock)).unwrap();
    assert!(store.schema_version_blocking().unwrap() >= 2);
    assert_eq!(
        store.kv().get_blocking("n", "k").unwrap().as_deref(),
        Some("v")
    );
    created(ask(&store, "P1", None));
    store
        .sessions()
        .append_blocking("s", moltbot_core::agent::Role::User, "hi", 5)
        .unwrap();
}
