//! The JSON5 corners, one test each: what the config reader accepts (and the value it reads), or
//! the located error it gives. `docs/configuration.md` ("JSON5") lists the same decisions.

use std::path::Path;

use moltbot_core::config::{parse, parse_json5, set_json5_bool, ConfigError, SyntaxError};
use serde_json::{json, Value};

fn value(text: &str) -> Value {
    match parse_json5(text) {
        Ok(Some(value)) => value,
        other => panic!("{text:?} should parse, got {other:?}"),
    }
}

fn error(text: &str) -> SyntaxError {
    match parse_json5(text) {
        Err(err) => err,
        other => panic!("{text:?} should be refused, got {other:?}"),
    }
}

#[test]
fn line_and_block_comments_are_skipped() {
    let text = "// head { \"\n{\n  a: 1, /* b: 2,\n  c: 3 */ d: '//', // tail }\n}\n/* end */";
    assert_eq!(value(text), json!({"a": 1, "d": "//"}));
}

#[test]
fn an_unterminated_block_comment_is_located_at_its_start() {
    let err = error("{\n  a: 1, /* never closed\n}");
    assert_eq!(
        err.to_string(),
        "line 2, column 9: unterminated comment block"
    );
}

#[test]
fn unquoted_keys_take_identifiers_digits_and_dashes() {
    let text = "{ plain: 1, _u: 2, $d: 3, a1: 4, 'single': 5, \"double\": 6, with-dash: 7, 8: 8 }";
    assert_eq!(
        value(text),
        json!({"plain": 1, "_u": 2, "$d": 3, "a1": 4, "single": 5, "double": 6, "with-dash": 7, "8": 8})
    );
}

#[test]
fn escapes_in_unquoted_keys_are_refused_with_a_location() {
    let err = error("{\n  \\u0061: 1 }");
    assert_eq!((err.line, err.column), (2, 3));
}

#[test]
fn single_quoted_strings_hold_double_quotes_and_escaped_single_ones() {
    assert_eq!(
        value(r#"{ a: 'say "hi"', b: 'it\'s', c: "it's" }"#),
        json!({"a": "say \"hi\"", "b": "it's", "c": "it's"})
    );
}

#[test]
fn trailing_commas_are_accepted_but_not_doubled_ones() {
    assert_eq!(
        value("{ a: [1, 2,], b: {c: 3,}, }"),
        json!({"a": [1, 2], "b": {"c": 3}})
    );
    let err = error("{ a: [1,, 2] }");
    assert_eq!(err.to_string(), "line 1, column 9: unexpected comma");
}

#[test]
fn hexadecimal_numbers_are_read_as_integers() {
    assert_eq!(
        value("{ a: 0x1F, b: 0XfF, c: -0x10, d: 0xFFFFFFFFFFFFFFFF }"),
        json!({"a": 31, "b": 255, "c": -16, "d": u64::MAX})
    );
    let err = error("{ a: 0x1FFFFFFFFFFFFFFFF }");
    assert_eq!(err.to_string(), "line 1, column 6: number is out of range");
    assert_eq!(
        error("{ a: 0x }").to_string(),
        "line 1, column 8: expected digit"
    );
}

#[test]
fn leading_and_trailing_decimal_points() {
    assert_eq!(
        value("{ a: .5, b: 5., c: -.5, d: +.5 }"),
        json!({"a": 0.5, "b": 5.0, "c": -0.5, "d": 0.5})
    );
}

#[test]
fn a_leading_plus_sign() {
    assert_eq!(
        value("{ a: +1, b: +1e3, c: +0 }"),
        json!({"a": 1, "b": 1000.0, "c": 0})
    );
}

#[test]
fn nan_and_infinity_are_refused_with_a_location_not_read_as_null() {
    for (text, column) in [
        ("{ a: NaN }", 6),
        ("{ a: -Infinity }", 6),
        ("[1, +Infinity]", 5),
    ] {
        let err = error(text);
        assert_eq!(err.column, column, "{text}");
        assert_eq!(
            err.message,
            "NaN and Infinity are not accepted (no setting takes them); write a finite number"
        );
    }
    // As key names they are just words.
    assert_eq!(
        value("{ NaN: 1, Infinity: 2 }"),
        json!({"NaN": 1, "Infinity": 2})
    );
}

#[test]
fn numbers_too_large_for_a_double_are_refused_not_read_as_null() {
    let err = error("{\n  n: 1e400 }");
    assert_eq!(err.to_string(), "line 2, column 6: number is out of range");
    assert_eq!(
        value("{ n: 18446744073709551616 }"),
        json!({"n": 18446744073709551616.0})
    );
}

#[test]
fn leading_zeros_are_refused() {
    let err = error("{ a: 01 }");
    assert_eq!((err.line, err.column), (1, 7));
}

#[test]
fn line_continuations_in_strings() {
    let text = "{ lf: 'one \\\ntwo', crlf: \"one \\\r\ntwo\", ls: 'one \\\u{2028}two' }";
    assert_eq!(
        value(text),
        json!({"lf": "one two", "crlf": "one two", "ls": "one two"})
    );
}

#[test]
fn json5_string_escapes() {
    assert_eq!(
        value(r#"{ a: "\x41\v\0\t\u00e9\/", b: '\q' }"#),
        json!({"a": "A\u{b}\0\t\u{e9}/", "b": "q"})
    );
    assert_eq!(
        error(r#"{ a: "\1" }"#).to_string(),
        "line 1, column 7: invalid escape"
    );
}

#[test]
fn a_line_break_inside_a_string_is_refused_at_the_string() {
    // The usual cause: a missing closing quote, which would otherwise swallow the next line.
    let err = error("{\n  token: \"abc,\n  mode: \"polling\",\n}");
    assert_eq!((err.line, err.column), (2, 10));
    assert!(err.message.contains("not closed on its line"), "{err}");
    // Unicode line and paragraph separators are ordinary characters in JSON5 strings.
    assert_eq!(value("{ a: 'x\u{2028}y' }"), json!({"a": "x\u{2028}y"}));
}

#[test]
fn unquoted_text_values_name_the_word() {
    let err = error("{\n  mode: polling }");
    assert_eq!(
        err.to_string(),
        "line 2, column 9: unexpected word `polling`: put text in quotes; true, false and null are lower case"
    );
    assert_eq!(error("{ a: True }").column, 6);
}

#[test]
fn unicode_whitespace_between_tokens() {
    assert_eq!(value("{\u{a0}a:\u{2028}1,\u{3000}}"), json!({"a": 1}));
}

#[test]
fn a_byte_order_mark_is_ignored_and_kept_by_edits() {
    let text = "\u{FEFF}{\n  a: 1,\n}\n";
    assert_eq!(value(text), json!({"a": 1}));
    let cfg = parse(Path::new("m.json"), "\u{FEFF}{ agents: {} }", &|_| None).unwrap();
    assert_eq!(cfg.locate("agents"), Some((1, 3)));
    let out = set_json5_bool(text, &["b"], true).unwrap();
    assert_eq!(out, "\u{FEFF}{\n  a: 1,\n  b: true,\n}\n");
}

#[test]
fn deep_nesting_is_refused_with_a_location_not_a_stack_overflow() {
    let ok = format!("{}{}", "[".repeat(500), "]".repeat(500));
    assert!(parse_json5(&ok).is_ok());
    let deep = format!("{}1{}", "{a:".repeat(600), "}".repeat(600));
    let err = error(&deep);
    assert_eq!(err.message, "maximum nesting depth exceeded");
}

#[test]
fn syntax_errors_reach_the_user_with_file_line_and_column() {
    let err = parse(Path::new("moltbot.json"), "{\n  a: NaN,\n}", &|_| None).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Syntax {
                line: 2,
                column: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "config file moltbot.json is not valid JSON5 (line 2, column 6): NaN and Infinity are not accepted (no setting takes them); write a finite number"
    );
}
