//! The store conformance suite: what every backend must do, written once against the
//! repository traits. A backend's test file (`store_sqlite.rs`, `store_postgres.rs`)
//! includes this module and calls [`conformance!`] with an async function that returns a fresh,
//! empty [`Fixture`]; the macro expands to one `#[tokio::test]` per case.
//!
//! Cases get time only from the fixture's [`ManualClock`], never from the wall clock.

#![allow(dead_code, clippy::unwrap_used)] // tests may unwrap; not every file uses every helper

pub mod cursors;
pub mod kv;
pub mod leases;
pub mod ledger;
pub mod outbox;
pub mod pairing;
pub mod plugins;
pub mod polls;
pub mod sessions;

use futures::future::BoxFuture;
use moltbot_core::store::{ManualClock, Store};

/// Opens another handle on a fixture's data with the given clock, as another process would.
pub type Reopen = Box<dyn Fn(ManualClock) -> BoxFuture<'static, Store> + Send + Sync>;

/// A fresh, empty store and the clock that stamps its rows.
pub struct Fixture {
    /// The store under test.
    pub store: Store,
    /// Its clock (starts at [`START_MS`]).
    pub clock: ManualClock,
    /// Opens a second handle on the same data (cases needing one skip when `None`).
    pub reopen: Option<Reopen>,
    /// Keeps whatever the backend needs alive (a temp dir, a database) until the case ends.
    pub guard: Box<dyn std::any::Any + Send>,
}

/// The fixture clock's start: 2026-01-01T00:00:00Z.
pub const START_MS: i64 = 1_767_225_600_000;

/// Expands to one `#[tokio::test]` per conformance case (a module per area), each on a fresh
/// fixture from `$make`: the name of an `async fn() -> Option<Fixture>` in the calling file
/// (`None` = the backend is unavailable here; the case then prints that it was skipped).
#[macro_export]
macro_rules! conformance {
    ($make:ident) => {
        $crate::conformance_areas!($make;
            kv: [get_set_delete, get_or_insert_keeps_the_first_value, get_or_insert_races_agree, list_gives_one_namespace_in_key_order, close_keeps_the_data_and_refuses_later_work],
            cursors: [get_set_list_per_channel, set_from_many_tasks_keeps_every_key],
            plugins: [record_list_get_remove, records_from_another_task_are_seen],
            pairing: [
                first_dm_creates_a_request_and_repeats_reuse_it,
                at_most_three_pending_per_channel_until_they_expire,
                expired_requests_are_not_listed_nor_approvable,
                approving_a_code_allows_the_sender_by_id_or_email_and_queues_the_approval_dm,
                unknown_and_malformed_codes_are_rejected,
                pair_by_email_without_a_request_approves_the_email_and_learns_the_id_later,
                pair_of_a_pending_sender_approves_their_request_with_both_ids,
                deny_by_code_person_id_or_email,
                revoke_removes_the_approval,
                approval_dms_are_queued_once_and_marked_sent,
                prune_resolved_deletes_only_old_finished_requests,
                an_approval_from_another_handle_is_seen,
                concurrent_requests_from_many_tasks_never_exceed_the_limit,
                concurrent_requests_from_two_handles_respect_the_limit,
            ],
            ledger: [
                claim_records_the_message_with_its_lease,
                claim_is_idempotent_and_reports_the_current_state,
                concurrent_claims_of_one_id_agree,
                finish_sets_state_reason_time_and_releases_the_lease,
                every_state_round_trips,
                pending_lists_unfinished_messages_oldest_first,
                skip_stale_returns_the_ids_and_releases_leases,
                last_received_and_prune,
                lease_expiry_and_takeover,
                same_node_prefix_takes_at_once,
                take_only_pending_known_messages,
                renew_owned_extends_only_live_leases_of_the_owner,
                renew_owned_leaves_recent_leases_alone,
                defer_releases_the_lease_until_next_attempt,
                due_is_oldest_first_limited_and_unheld,
                next_due_at_is_the_earliest_waiting_message,
                record_answer_writes_turns_and_ops_in_one_unit,
                record_answer_is_idempotent,
                record_answer_without_session_or_first_attempt,
                only_a_received_message_takes_an_answer,
                prune_goes_in_batches_of_the_limit,
                first_ahead_is_the_oldest_pending_message_of_the_room,
            ],
            outbox: [
                enqueue_stores_all_parts_pending_in_order,
                recovery_finds_the_stored_parts_and_resends_none_that_were_sent,
                mark_records_failures_and_unknown_outcomes,
                sent_and_failed_parts_leave_pending,
                last_sent_at_reflects_sent_parts_only,
                record_sent_begins_the_next_and_finishes_the_message,
                record_sent_of_an_unknown_op_changes_nothing,
                typed_ops_round_trip,
                reply_parts_round_trip_with_their_bytes,
                prune_finished_removes_done_ops_with_their_bodies,
            ],
            sessions: [
                history_is_oldest_first_and_limited,
                append_keeps_only_the_last_turns,
                one_append_of_several_turns_trims_in_the_same_call,
                clear_removes_only_that_session,
                authors_round_trip,
                concurrent_appends_lose_no_turn,
                a_new_display_name_leaves_older_turns_as_they_were,
                sessions_never_share_turns,
                a_new_author_in_many_sessions_at_once_is_one_author,
            ],
            leases: [
                acquire_and_renew_keep_the_token,
                takeover_after_expiry_gets_a_larger_token,
                release_frees_the_lease_for_the_next_holder,
                concurrent_acquires_agree,
            ],
            polls: [
                create_is_idempotent_and_round_trips,
                one_vote_per_person_changeable_until_close,
                due_polls_close_at_their_time_and_are_announced_once,
                a_poll_is_found_by_its_card_message,
                concurrent_votes_keep_one_per_person,
            ],
        );
    };
}

/// The expansion helper of [`conformance!`].
#[macro_export]
macro_rules! conformance_areas {
    ($make:ident; $($area:ident : [$($case:ident),+ $(,)?]),+ $(,)?) => {
        $(
            mod $area {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let Some(fixture) = super::$make().await else {
                            eprintln!("skipped: backend unavailable");
                            return;
                        };
                        $crate::store_conformance::$area::$case(fixture).await;
                    }
                )+
            }
        )+
    };
}
