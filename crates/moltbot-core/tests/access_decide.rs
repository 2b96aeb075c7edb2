//! Every DM and space policy against every kind of sender and room (spec section 4).

use moltbot_core::access::{
    decide, AccessPolicy, Conversation, Decision, DmPolicy, DropReason, GroupPolicy, Sender,
};

const ALICE_ID: &str = "PERSON-ALICE";
const ALICE_EMAIL: &str = "Alice@Example.com";

/// How the sender relates to the config and the approvals.
#[derive(Debug, Clone, Copy)]
enum SenderKind {
    /// In `allowFrom` and `groupAllowFrom` by email (written differently cased and prefixed).
    ByEmail,
    /// In both lists by person id.
    ById,
    /// Both lists are `["*"]`.
    Wildcard,
    /// Not in the lists, but approved through pairing.
    Approved,
    /// Not in the lists, not approved.
    Unknown,
}

const KINDS: [SenderKind; 5] = [
    SenderKind::ByEmail,
    SenderKind::ById,
    SenderKind::Wildcard,
    SenderKind::Approved,
    SenderKind::Unknown,
];

fn setup(kind: SenderKind, dm: DmPolicy, group: GroupPolicy) -> (AccessPolicy, bool) {
    let entries: Vec<&str> = match kind {
        SenderKind::ByEmail => vec!["someone@example.com", " chat:ALICE@example.COM "],
        SenderKind::ById => vec!["chat:PERSON-BOB", ALICE_ID],
        SenderKind::Wildcard => vec!["*"],
        SenderKind::Approved | SenderKind::Unknown => vec!["bob@example.com", "PERSON-BOB"],
    };
    let policy = AccessPolicy::new("chat", dm, &entries, group, &entries);
    (policy, matches!(kind, SenderKind::Approved))
}

fn alice() -> Sender {
    Sender::new(ALICE_ID, Some(ALICE_EMAIL.to_lowercase()))
}

const A: Decision = Decision::Admit;
const P: Decision = Decision::Pair;
const DM_NOT_ALLOWED: Decision = Decision::Drop(DropReason::DmNotAllowed);
const DM_OFF: Decision = Decision::Drop(DropReason::DmDisabled);
const NOT_IN_GROUP_LIST: Decision = Decision::Drop(DropReason::SpaceSenderNotAllowed);
const NO_MENTION: Decision = Decision::Drop(DropReason::SpaceWithoutMention);
const SPACES_OFF: Decision = Decision::Drop(DropReason::SpacesDisabled);

#[test]
fn direct_messages() {
    // Columns follow KINDS: by email, by id, "*", approved, unknown.
    let table: [(DmPolicy, [Decision; 5]); 4] = [
        (DmPolicy::Pairing, [A, A, A, A, P]),
        (DmPolicy::Allowlist, [A, A, A, A, DM_NOT_ALLOWED]),
        (DmPolicy::Open, [A, A, A, A, A]),
        (DmPolicy::Disabled, [DM_OFF; 5]),
    ];
    for (dm, expected) in table {
        for group in [GroupPolicy::Allowlist, GroupPolicy::Disabled] {
            for (kind, want) in KINDS.into_iter().zip(expected) {
                let (policy, approved) = setup(kind, dm, group);
                let got = decide(&policy, &alice(), &Conversation::direct(), approved);
                assert_eq!(got, want, "dm={dm} group={group} sender={kind:?}");
            }
        }
    }
}

#[test]
fn space_messages() {
    // For each policy: (mentioned, not mentioned) per sender kind in KINDS order.
    let table: [(GroupPolicy, [[Decision; 2]; 5]); 4] = [
        (
            GroupPolicy::Allowlist,
            [
                [A, A],
                [A, A],
                [A, A],
                // Approvals never grant space access.
                [NOT_IN_GROUP_LIST, NOT_IN_GROUP_LIST],
                [NOT_IN_GROUP_LIST, NOT_IN_GROUP_LIST],
            ],
        ),
        (GroupPolicy::Mention, [[A, NO_MENTION]; 5]),
        (GroupPolicy::Open, [[A, A]; 5]),
        (GroupPolicy::Disabled, [[SPACES_OFF, SPACES_OFF]; 5]),
    ];
    for (group, expected) in table {
        // The DM policy never affects spaces.
        for dm in [DmPolicy::Pairing, DmPolicy::Disabled] {
            for (kind, [mentioned, not_mentioned]) in KINDS.into_iter().zip(expected) {
                let (policy, approved) = setup(kind, dm, group);
                let got = decide(&policy, &alice(), &Conversation::group(true), approved);
                assert_eq!(
                    got, mentioned,
                    "group={group} dm={dm} sender={kind:?} mentioned"
                );
                let got = decide(&policy, &alice(), &Conversation::group(false), approved);
                assert_eq!(
                    got, not_mentioned,
                    "group={group} dm={dm} sender={kind:?} not mentioned"
                );
            }
        }
    }
}

#[test]
fn sender_email_case_does_not_matter() {
    let policy = AccessPolicy::new(
        "chat",
        DmPolicy::Allowlist,
        &["alice@example.com"],
        GroupPolicy::Allowlist,
        &["alice@example.com"],
    );
    let shouting = Sender::new("x", Some("ALICE@EXAMPLE.COM".into()));
    assert_eq!(
        decide(&policy, &shouting, &Conversation::direct(), false),
        Decision::Admit
    );
    assert_eq!(
        decide(&policy, &shouting, &Conversation::group(false), false),
        Decision::Admit
    );
}

#[test]
fn injected_id_equivalence_matches_other_spellings() {
    // A stand-in for a network whose ids have an encoded and a raw form.
    fn same_id(a: &str, b: &str) -> bool {
        let raw = |s: &str| s.strip_prefix("enc:").unwrap_or(s).to_owned();
        raw(a) == raw(b)
    }
    let exact = AccessPolicy::new(
        "chat",
        DmPolicy::Allowlist,
        &["enc:1234"],
        GroupPolicy::Allowlist,
        &["enc:1234"],
    );
    let sender = Sender::new("1234", None);
    assert_eq!(
        decide(&exact, &sender, &Conversation::direct(), false),
        DM_NOT_ALLOWED
    );
    let lenient = exact.with_same_id(same_id);
    assert_eq!(decide(&lenient, &sender, &Conversation::direct(), false), A);
    assert_eq!(
        decide(&lenient, &sender, &Conversation::group(false), false),
        A
    );
}

#[test]
fn approval_lookup_is_needed_only_for_gated_dms() {
    let policy = |dm| AccessPolicy::new::<&str>("chat", dm, &[], GroupPolicy::Open, &[]);
    assert!(policy(DmPolicy::Pairing).approval_matters(&Conversation::direct()));
    assert!(policy(DmPolicy::Allowlist).approval_matters(&Conversation::direct()));
    assert!(!policy(DmPolicy::Open).approval_matters(&Conversation::direct()));
    assert!(!policy(DmPolicy::Disabled).approval_matters(&Conversation::direct()));
    assert!(!policy(DmPolicy::Pairing).approval_matters(&Conversation::group(true)));
}

#[test]
fn drop_reasons_are_stable_and_distinct() {
    let texts: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        texts,
        [
            "dm not allowed (dmPolicy=allowlist)",
            "dms disabled (dmPolicy=disabled)",
            "space sender not in groupAllowFrom",
            "spaces disabled (groupPolicy=disabled)",
            "space message without mention (groupPolicy=mention)",
            "pairing request limit reached",
        ]
    );
    let mut labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.metrics_label()).collect();
    assert!(labels
        .iter()
        .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), DropReason::ALL.len());
}
