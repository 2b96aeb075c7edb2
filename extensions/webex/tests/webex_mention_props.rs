//! Property tests for `moltbot_webex::mention::strip_bot_mention`.

use moltbot_webex::mention::strip_bot_mention;
use proptest::prelude::*;
use webex_api::ids::WebexId;

/// How a mention's `data-object-id` spells the id.
#[derive(Debug, Clone, Copy)]
enum IdForm {
    Base64,
    Padded,
    RawLower,
    RawUpper,
}

fn spell_id(uuid: &str, form: IdForm) -> String {
    let id = WebexId::encode("us", "PEOPLE", uuid);
    match form {
        IdForm::Base64 => id,
        IdForm::Padded => format!("{id}{}", "=".repeat((4 - id.len() % 4) % 4)),
        IdForm::RawLower => uuid.to_lowercase(),
        IdForm::RawUpper => uuid.to_uppercase(),
    }
}

fn id_form() -> impl Strategy<Value = IdForm> {
    prop_oneof![
        Just(IdForm::Base64),
        Just(IdForm::Padded),
        Just(IdForm::RawLower),
        Just(IdForm::RawUpper),
    ]
}

fn uuid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
}

/// A word of the message, or a name: letters from several scripts, no spaces or punctuation.
fn word() -> impl Strategy<Value = String> {
    "[A-Za-zéüßÅ日本한😀]{1,8}"
}

/// One token of a message: plain word, the bot's mention, or another person's mention.
#[derive(Debug, Clone)]
enum Token {
    Word(String),
    Bot,
    Person(String),
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![
        6 => word().prop_map(Token::Word),
        1 => word().prop_map(Token::Person),
    ]
}

fn mention_tag(id: &str, name: &str) -> String {
    format!(
        r#"<spark-mention data-object-type="person" data-object-id="{id}">{name}</spark-mention>"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The bot's mention, wherever it is, is removed; every other word and mention stays, in order.
    #[test]
    fn removes_exactly_the_bot_mention(
        mut tokens in prop::collection::vec(token(), 0..10),
        bot_at in any::<prop::sample::Index>(),
        bot_uuid in uuid(),
        person_uuid in uuid(),
        form in id_form(),
        bot_name in word(),
    ) {
        let at = bot_at.index(tokens.len() + 1);
        tokens.insert(at, Token::Bot);
        let bot_id = WebexId::encode("us", "PEOPLE", &bot_uuid);
        let mention_id = spell_id(&bot_uuid, form);
        let person_id = WebexId::encode("us", "PEOPLE", &person_uuid);
        let mut text = Vec::new();
        let mut html = Vec::new();
        let mut expected = Vec::new();
        for token in &tokens {
            match token {
                Token::Word(word) => {
                    text.push(word.clone());
                    html.push(word.clone());
                    expected.push(word.clone());
                }
                Token::Person(name) => {
                    text.push(name.clone());
                    html.push(mention_tag(&person_id, name));
                    expected.push(name.clone());
                }
                Token::Bot => {
                    text.push(bot_name.clone());
                    html.push(mention_tag(&mention_id, &bot_name));
                }
            }
        }
        let html = format!("<p>{}</p>", html.join(" "));
        let out = strip_bot_mention(&text.join(" "), Some(&html), &bot_id, &bot_name);
        prop_assert!(out.mentioned_bot);
        prop_assert_eq!(out.text, expected.join(" "));
    }

    /// Messages that do not mention the bot come back trimmed, untouched, when the html names
    /// other people only and the text does not start with the bot's name.
    #[test]
    fn leaves_messages_without_the_bot_alone(
        words in prop::collection::vec(word(), 1..8),
        person_uuid in uuid(),
    ) {
        let bot_id = WebexId::encode("us", "PEOPLE", "00000000-0000-4000-8000-000000000000");
        let person_id = WebexId::encode("us", "PEOPLE", &person_uuid);
        let text = words.join(" ");
        let html = format!("{} {}", mention_tag(&person_id, &words[0]), words[1..].join(" "));
        let out = strip_bot_mention(&format!("  {text} "), Some(&html), &bot_id, "Zzzbot Qqq");
        prop_assert!(!out.mentioned_bot);
        prop_assert_eq!(out.text, text);
    }

    /// Arbitrary (hostile) html and text never panic.
    #[test]
    fn never_panics(
        text in "\\PC{0,80}",
        html in "(<spark-mention|</spark-mention>|data-object-id=|[\"'<>=&#;x ]|&amp;|&#x[0-9a-fA-F]{0,8};|\\PC){0,40}",
        bot_id in "\\PC{0,40}",
        name in "\\PC{0,20}",
    ) {
        let _ = strip_bot_mention(&text, Some(&html), &bot_id, &name);
        let _ = strip_bot_mention(&text, None, &bot_id, &name);
    }
}
