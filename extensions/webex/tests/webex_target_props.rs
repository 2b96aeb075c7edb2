//! Property tests for `moltbot_webex::target::parse_target`.

use moltbot_webex::target::{parse_target, Target};
use proptest::prelude::*;
use webex_api::ids::WebexId;

fn uuid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
}

fn webex_prefix() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just("webex:"), Just("WEBEX:")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn emails_are_trimmed_and_lowercased(
        local in "[A-Za-z0-9._+-]{1,12}",
        domain in "[A-Za-z0-9-]{1,10}\\.[A-Za-z]{2,6}",
        prefix in webex_prefix(),
        pad in "[ \t]{0,3}",
    ) {
        let email = format!("{local}@{domain}");
        let parsed = parse_target(&format!("{pad}{prefix}{email}{pad}"));
        prop_assert_eq!(parsed, Ok(Target::Email(email.to_lowercase())));
    }

    #[test]
    fn encoded_ids_are_classified_by_kind(
        uuid in uuid(),
        people in any::<bool>(),
        prefix in webex_prefix(),
    ) {
        let kind = if people { "PEOPLE" } else { "ROOM" };
        let id = WebexId::encode("us", kind, &uuid);
        let expected = if people { Target::PersonId(id.clone()) } else { Target::RoomId(id.clone()) };
        prop_assert_eq!(parse_target(&format!("{prefix}{id}")), Ok(expected.clone()));
        let explicit = if people { "person:" } else { "room:" };
        prop_assert_eq!(parse_target(&format!("{prefix}{explicit}{id}")), Ok(expected));
        let wrong = if people { "room:" } else { "person:" };
        let mismatched = format!("{prefix}{wrong}{id}");
        prop_assert!(parse_target(&mismatched).is_err());
    }

    #[test]
    fn never_panics(input in "\\PC{0,60}") {
        if let Ok(target) = parse_target(&input) {
            prop_assert!(!target.value().is_empty());
            prop_assert!(!target.value().contains(char::is_whitespace));
        }
    }
}
