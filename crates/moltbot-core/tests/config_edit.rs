//! The text-preserving edit used by `moltbot plugins install`.

use insta::assert_snapshot;
use moltbot_core::config::{parse_json5, set_json5_bool, EditError};
use serde_json::{json, Value};

const ENABLE_WEBEX: &[&str] = &["plugins", "entries", "webex", "enabled"];

fn reparse(text: &str) -> Value {
    parse_json5(text)
        .expect("edited text must parse")
        .expect("edited text holds a value")
}

#[test]
fn inserts_missing_sections_and_keeps_comments() {
    let source = r#"// moltbot config: edited by hand
{
  /* channels first */
  channels: {
    webex: {
      mode: "polling", // no public URL here
      botToken: "${WEBEX_TOKEN}",
    },
  },
  agents: { defaults: { model: "echo/echo" } } // trailing note
}
"#;
    let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
    for comment in [
        "// moltbot config: edited by hand",
        "/* channels first */",
        "// no public URL here",
        "// trailing note",
    ] {
        assert!(out.contains(comment), "lost {comment:?} in:\n{out}");
    }
    let value = reparse(&out);
    assert_eq!(
        value["plugins"],
        json!({"entries": {"webex": {"enabled": true}}})
    );
    assert_eq!(value["channels"]["webex"]["mode"], "polling");
    assert_eq!(value["agents"]["defaults"]["model"], "echo/echo");
    assert_snapshot!("insert_into_commented_file", out);
}

#[test]
fn inserts_into_an_existing_section_with_its_indentation() {
    let source = "{\n    plugins: {\n        entries: {\n            slack: { enabled: false },\n        },\n    },\n}\n";
    let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
    assert_eq!(
        out,
        "{\n    plugins: {\n        entries: {\n            slack: { enabled: false },\n            webex: {\n                enabled: true\n            },\n        },\n    },\n}\n"
    );
    let value = reparse(&out);
    assert_eq!(value["plugins"]["entries"]["slack"]["enabled"], false);
    assert_eq!(value["plugins"]["entries"]["webex"]["enabled"], true);
}

#[test]
fn replaces_an_existing_value_in_place() {
    let source = "{\n  plugins: {\n    entries: {\n      webex: { enabled: false }, // off for now\n    },\n  },\n}\n";
    let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
    assert_eq!(out, source.replace("enabled: false", "enabled: true"));
    // Setting it again changes nothing.
    assert_eq!(set_json5_bool(&out, ENABLE_WEBEX, true).unwrap(), out);
}

#[test]
fn adds_a_comma_after_a_last_member_without_one() {
    let source = "{\n  \"channels\": {\n    \"webex\": { \"mode\": \"polling\" }\n  } // end\n}\n";
    let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
    assert_snapshot!("insert_after_member_without_comma", out);
    assert_eq!(
        reparse(&out)["plugins"]["entries"]["webex"]["enabled"],
        true
    );
}

#[test]
fn a_plain_json_file_stays_plain_json() {
    let source =
        "{\n  \"channels\": {\n    \"webex\": {\n      \"mode\": \"polling\"\n    }\n  }\n}\n";
    let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["plugins"]["entries"]["webex"]["enabled"], true);
    assert_eq!(value["channels"]["webex"]["mode"], "polling");
}

#[test]
fn creates_a_file_from_nothing() {
    for blank in ["", "\n", "  \n\t"] {
        let out = set_json5_bool(blank, ENABLE_WEBEX, true).unwrap();
        assert_eq!(
            out,
            "{\n  plugins: {\n    entries: {\n      webex: {\n        enabled: true\n      }\n    }\n  }\n}\n"
        );
    }
    let out = set_json5_bool("// settings go here\n", ENABLE_WEBEX, true).unwrap();
    assert!(out.starts_with("// settings go here\n{"));
    assert_eq!(
        reparse(&out)["plugins"]["entries"]["webex"]["enabled"],
        true
    );
}

#[test]
fn fills_empty_objects() {
    for (source, expected) in [
        ("{}", "{\n  plugins: {\n    entries: {\n      webex: {\n        enabled: true\n      }\n    }\n  }\n}"),
        (
            "{\n  plugins: {\n    // nothing yet\n  },\n}",
            "{\n  plugins: {\n    // nothing yet\n    entries: {\n      webex: {\n        enabled: true\n      }\n    }\n  },\n}",
        ),
        (
            "{\n  plugins: { entries: {} },\n}",
            "{\n  plugins: {\n    entries: {\n      webex: {\n        enabled: true\n      }\n    }\n  },\n}",
        ),
    ] {
        let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
        assert_eq!(out, expected, "from {source:?}");
        assert_eq!(reparse(&out)["plugins"]["entries"]["webex"]["enabled"], true);
    }
}

#[test]
fn keeps_crlf_line_endings() {
    let source = "{\r\n  channels: {},\r\n}\r\n";
    let out = set_json5_bool(source, ENABLE_WEBEX, false).unwrap();
    assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
    assert_eq!(
        reparse(&out)["plugins"]["entries"]["webex"]["enabled"],
        false
    );
}

#[test]
fn edits_the_last_of_duplicate_keys() {
    let source = "{ plugins: { entries: { webex: { enabled: true } } }, plugins: { entries: {} } }";
    let out = set_json5_bool(source, ENABLE_WEBEX, false).unwrap();
    assert_eq!(
        reparse(&out)["plugins"]["entries"]["webex"]["enabled"],
        false
    );
}

#[test]
fn json5_it_does_not_touch_is_kept_byte_for_byte() {
    let source = "{\n  // odd but valid\n  n: [0x1F, .5, 5., +1],\n  s: 'one \\\ntwo', /* block */\n  'quoted key': \"x\",\n}\n";
    let out = set_json5_bool(source, ENABLE_WEBEX, true).unwrap();
    let prefix = source.trim_end().trim_end_matches('}');
    assert!(out.starts_with(prefix), "{out}");
    assert_eq!(reparse(&out)["n"], json!([31, 0.5, 5.0, 1]));
    assert_eq!(reparse(&out)["s"], "one two");
}

#[test]
fn refuses_broken_text_and_leaves_it_alone() {
    let err = set_json5_bool("{\n  plugins: {\n    entries: [\n}", ENABLE_WEBEX, true).unwrap_err();
    assert!(matches!(err, EditError::Syntax { line: 4, .. }), "{err:?}");
    let err = set_json5_bool("{ plugins: { entries: 3 } }", ENABLE_WEBEX, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot set `plugins.entries.webex.enabled`: `plugins.entries` is not an object; change \
         it to an object `{ ... }` (or remove it) and run the command again"
    );
    let err = set_json5_bool("[]", ENABLE_WEBEX, true).unwrap_err();
    assert!(matches!(err, EditError::NotAnObject { ref blocking, .. } if blocking.is_empty()));
    assert_eq!(
        err.to_string(),
        "cannot set `plugins.entries.webex.enabled`: the config must be an object `{ ... }`; wrap \
         the settings in { ... } and run the command again"
    );
}

#[test]
fn a_null_on_the_way_becomes_an_object() {
    // `plugins: null` passes for "no plugins"; `plugins install` fills it in.
    assert_eq!(
        set_json5_bool("{ plugins: null }", ENABLE_WEBEX, true).unwrap(),
        "{\n  plugins: {\n    entries: {\n      webex: {\n        enabled: true\n      }\n    }\n  }\n}"
    );
    let out = set_json5_bool("{\n  plugins: { entries: null },\n}\n", ENABLE_WEBEX, true).unwrap();
    assert_eq!(
        reparse(&out)["plugins"]["entries"]["webex"]["enabled"],
        true
    );
}

mod property {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Map;

    const KEYS: &[&str] = &["plugins", "entries", "webex", "enabled", "other"];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            (0u32..100).prop_map(|n| json!(n)),
            Just(json!("text // not a comment, {")),
            Just(json!([])),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 24, 4, |inner| {
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|pairs| {
                let mut map = Map::new();
                for (k, v) in pairs {
                    map.insert(k.to_string(), v);
                }
                Value::Object(map)
            })
        })
    }

    fn root() -> impl Strategy<Value = Value> {
        tree().prop_map(|v| match v {
            Value::Object(_) => v,
            other => json!({ "other": other }),
        })
    }

    /// Hand-written JSON5: unquoted keys, optional trailing commas, comments after members.
    fn render_json5(v: &Value, indent: &str, trailing: bool, comments: bool, out: &mut String) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                let inner = format!("{indent}    ");
                out.push_str("{\n");
                let n = map.len();
                for (i, (k, item)) in map.iter().enumerate() {
                    out.push_str(&inner);
                    out.push_str(k);
                    out.push_str(": ");
                    render_json5(item, &inner, trailing, comments, out);
                    if i + 1 < n || trailing {
                        out.push(',');
                    }
                    if comments {
                        out.push_str(" // note {");
                    }
                    out.push('\n');
                }
                out.push_str(indent);
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// The value `set_json5_bool` should produce, or `None` when a non-object is in the way.
    fn expected(mut v: Value, path: &[&str], value: bool) -> Option<Value> {
        let mut at = &mut v;
        for (i, key) in path.iter().enumerate() {
            let map = at.as_object_mut()?;
            if i + 1 == path.len() {
                map.insert(key.to_string(), Value::Bool(value));
                break;
            }
            at = map.entry(key.to_string()).or_insert_with(|| json!({}));
        }
        Some(v)
    }

    proptest! {
        #[test]
        fn edits_set_the_value_and_change_nothing_else(
            v in root(),
            style in 0usize..4,
            value in any::<bool>(),
        ) {
            let source = match style {
                0 => serde_json::to_string_pretty(&v).unwrap(),
                1 => serde_json::to_string(&v).unwrap(),
                s => {
                    let mut out = String::from("// config\n");
                    render_json5(&v, "", s == 3, s == 3, &mut out);
                    out.push('\n');
                    out
                }
            };
            match (set_json5_bool(&source, ENABLE_WEBEX, value), expected(v, ENABLE_WEBEX, value)) {
                (Ok(out), Some(want)) => {
                    prop_assert_eq!(reparse(&out), want);
                    if style == 3 {
                        prop_assert!(out.starts_with("// config\n"));
                        prop_assert_eq!(
                            out.matches("// note {").count(),
                            source.matches("// note {").count()
                        );
                    }
                }
                (Err(EditError::NotAnObject { .. }), None) => {}
                (got, want) => prop_assert!(false, "source:\n{}\ngot {:?}\nwant {:?}", source, got, want),
            }
        }
    }
}
