//! The JSON5 corners, one test each: what the config reader accepts (and the value it reads), or
//! the located error it gives. `docs/configuration.md` ("JSON5") lists the same decisions.

use std::path::Path;

use moltbot_core::config::{
    parse, parse_json5, set_json5_bool, ConfigError, SyntaxError, MAX_NESTING_DEPTH,
};
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
    assert_eq!(err.to_string(), "line 1, column 6: number is out of range (a whole number must fit in 64 bits, any number in a 64-bit float): write a smaller number");
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
    assert_eq!(err.to_string(), "line 2, column 6: number is out of range (a whole number must fit in 64 bits, any number in a 64-bit float): write a smaller number");
    assert_eq!(
        value("{ n: 18446744073709551616 }"),
        json!({"n": 18446744073709551616.0})
    );
}

#[test]
fn leading_zeros_are_refused_as_such_at_the_number() {
    // The reviewer's inputs: once read as two numbers ("expected comma").
    assert_eq!(
        error("{ a: 007 }").to_string(),
        "line 1, column 6: a number cannot start with 0 (`007`): write `7`, or put it in quotes if it is text"
    );
    assert_eq!(
        error("01").to_string(),
        "line 1, column 1: a number cannot start with 0 (`01`): write `1`, or put it in quotes if it is text"
    );
    let err = error("{\n  a: [1, -00.5e3] }");
    assert_eq!((err.line, err.column), (2, 10));
    assert!(err.message.contains("write `-0.5e3`"), "{err}");
    // A single zero, zero fractions and hex are fine.
    assert_eq!(
        value("{ a: 0, b: -0.5, c: 0x0F, d: 0e3 }"),
        json!({"a": 0, "b": -0.5, "c": 15, "d": 0.0})
    );
}

#[test]
fn an_escape_in_an_unquoted_key_says_to_quote_it() {
    assert_eq!(
        error("{ \\u0061bc: 1 }").to_string(),
        "line 1, column 3: an escape such as `\\u0061` is only allowed inside quotes: quote the key or value (\"\\u0061bc\")"
    );
    assert!(error("{ a: \\x41 }").message.contains("(\"\\x41\")"));
    assert_eq!(value("{ '\\u0061bc': 1 }"), json!({"abc": 1}));
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
        r#"line 1, column 7: invalid escape: write `\\` for a backslash; the escapes are \n \t \r \b \f \v \0 \' \" \xHH \uHHHH (\1 to \9 are not allowed)"#
    );
    assert!(error(r#"{ a: 'x\9' }"#)
        .message
        .starts_with("invalid escape: "));
    assert!(error(r#"{ a: '\u00g1' }"#).message.contains("e.g. \\u00e9"));
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
    // One limit for objects and lists alike (the parser's own counts an object twice).
    let objects = |n: usize| format!("{}1{}", "{a:".repeat(n), "}".repeat(n));
    let lists = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse_json5(&objects(MAX_NESTING_DEPTH)).is_ok());
    assert!(parse_json5(&lists(MAX_NESTING_DEPTH)).is_ok());
    let message = "objects and lists are nested more than 256 deep: no setting is nested that \
                   deep; look for an unclosed { or [";
    let err = error(&objects(MAX_NESTING_DEPTH + 1));
    assert_eq!((err.column, err.message.as_str()), (769, message));
    let err = error(&lists(MAX_NESTING_DEPTH + 1));
    assert_eq!((err.column, err.message.as_str()), (257, message));
    let mixed = format!("{{a:{}{}}}", "[".repeat(256), "]".repeat(256));
    assert_eq!(error(&mixed).column, 259);
    assert_eq!(error(&objects(30_000)).message, message);
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
