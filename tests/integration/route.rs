//! The exchange tables of `warren::route` against SEMANTICS E, N1, T and P4: one test per rule
//! (each names it), a proptest per exchange type against the naive model
//! (`tests/model/route.rs`) over random bind / unbind / route sequences, and a concurrency test
//! of the visibility rules (bind and unbind while routing).

use crate::model::route::{ModelError, RouteModel};
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use warren::message::{FieldTable, FieldValue};
use warren::route::{
    route_with_cc, routing_keys, DirectTable, ExchangeTable, ExchangeType, FanoutTable,
    HeadersTable, TopicTable,
};
use warren::topic::DestSet;
use warren::{Error, ErrorKind, Input, Scope};

// ---------------------------------------------------------------------------------------------
// Helpers

/// No destinations.
const NONE: [u32; 0] = [];

fn no_args() -> FieldTable {
    FieldTable::new()
}

/// Routes through `table` and returns the destinations sorted, checking they are distinct.
fn route(table: &ExchangeTable<u32>, key: &str, headers: Option<&FieldTable>) -> Vec<u32> {
    let mut out = DestSet::new();
    table.route(key, headers, &mut out).expect("valid key");
    sorted_distinct(&out)
}

fn route_cc(table: &ExchangeTable<u32>, key: &str, headers: Option<&FieldTable>) -> Vec<u32> {
    let mut out = DestSet::new();
    route_with_cc(table, key, headers, &mut out).expect("valid keys");
    sorted_distinct(&out)
}

fn sorted_distinct(out: &DestSet<u32>) -> Vec<u32> {
    let mut got = out.as_slice().to_vec();
    got.sort_unstable();
    let n = got.len();
    got.dedup();
    assert_eq!(
        got.len(),
        n,
        "a DestSet holds each destination once: {:?}",
        out.as_slice()
    );
    got
}

/// A headers table with one binding of `args` to destination 1.
fn headers_with(args: FieldTable) -> HeadersTable<u32> {
    let table = HeadersTable::new();
    assert_eq!(table.bind(&args, 1), Ok(true));
    table
}

/// Whether the single binding of `table` matches `headers`.
fn hits(table: &HeadersTable<u32>, headers: Option<&FieldTable>) -> bool {
    let mut out = DestSet::new();
    table.route(headers, &mut out);
    !out.is_empty()
}

/// Whether a binding `{name: term}` (plus `x-match: mode`) matches a message `{name: value}`.
fn term_matches(mode: &str, term: FieldValue, value: FieldValue) -> bool {
    let table = headers_with(FieldTable::new().with("x-match", mode).with("h", term));
    hits(&table, Some(&FieldTable::new().with("h", value)))
}

fn assert_406(err: &Error, needle: &str) {
    assert_eq!(err.kind(), ErrorKind::Amqp, "{err}");
    assert_eq!(err.reply_code(), Some(406), "{err}");
    assert_eq!(err.scope(), Scope::Channel, "{err}");
    let text = err.to_string();
    assert!(text.contains(needle), "{text:?} should name {needle:?}");
    assert!(
        !text.ends_with('.'),
        "messages end without a period: {text:?}"
    );
}

fn s(v: &str) -> FieldValue {
    FieldValue::from(v)
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS E1: exchange types

#[test]
fn exchange_type_parses_the_four_names() {
    // SEMANTICS E1
    for kind in ExchangeType::ALL {
        assert_eq!(kind.as_str().parse::<ExchangeType>(), Ok(kind));
        assert_eq!(kind.to_string(), kind.as_str());
        assert_eq!(ExchangeTable::<u32>::new(kind).kind(), kind);
    }
}

#[test]
fn unknown_exchange_type_is_406() {
    // SEMANTICS E1: other types -> 406, case matters
    for name in ["x-consistent-hash", "Direct", "", "topic ", "match"] {
        let err = name.parse::<ExchangeType>().unwrap_err();
        assert_406(&err, &format!("invalid exchange type '{name}'"));
    }
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS E1: direct

#[test]
fn direct_routes_on_key_equality() {
    // SEMANTICS E1: direct routes to destinations whose binding key equals the routing key
    let t = ExchangeTable::new(ExchangeType::Direct);
    t.bind("a.b", &no_args(), 1).unwrap();
    t.bind("a", &no_args(), 2).unwrap();
    t.bind("", &no_args(), 3).unwrap();
    assert_eq!(route(&t, "a.b", None), [1]);
    assert_eq!(route(&t, "a", None), [2]);
    assert_eq!(route(&t, "", None), [3]);
    assert_eq!(route(&t, "a.b.c", None), NONE);
    assert_eq!(route(&t, "A.B", None), NONE, "bytewise (N1)");
}

#[test]
fn direct_wildcards_are_literal() {
    // SEMANTICS E1 (direct is equality), T2 (wildcards only mean something in topic patterns)
    let t = DirectTable::new();
    t.bind("a.#", 1u32).unwrap();
    t.bind("*", 2).unwrap();
    t.bind("#", 3).unwrap();
    let r = |key: &str| {
        let mut out = DestSet::new();
        t.route(key, &mut out).unwrap();
        sorted_distinct(&out)
    };
    assert_eq!(r("a"), NONE);
    assert_eq!(r("a.b"), NONE);
    assert_eq!(r("x"), NONE);
    assert_eq!(r(""), NONE);
    assert_eq!(r("a.#"), [1]);
    assert_eq!(r("*"), [2]);
    assert_eq!(r("#"), [3]);
}

#[test]
fn direct_destination_bound_under_two_keys_gets_one_copy() {
    // SEMANTICS T2 / P4: one copy per destination however many keys match it
    let t = ExchangeTable::new(ExchangeType::Direct);
    t.bind("a", &no_args(), 1).unwrap();
    t.bind("b", &no_args(), 1).unwrap();
    let headers = FieldTable::new().with("CC", vec![s("b"), s("a")]);
    assert_eq!(route_cc(&t, "a", Some(&headers)), [1]);
}

#[test]
fn binding_twice_is_a_no_op_and_unbind_is_idempotent() {
    // SEMANTICS E5 (binding twice is a no-op), E11 (unbind is idempotent)
    for kind in ExchangeType::ALL {
        let t = ExchangeTable::new(kind);
        let args = FieldTable::new().with("a", 1i32);
        assert_eq!(t.bind("k", &args, 7), Ok(true), "{kind}");
        assert_eq!(t.bind("k", &args, 7), Ok(false), "{kind}");
        assert_eq!(t.len(), 1, "{kind}");
        let hdrs = FieldTable::new().with("a", 1i64);
        assert_eq!(route(&t, "k", Some(&hdrs)), [7], "{kind}");
        assert_eq!(t.unbind("k", &args, 7), Ok(true), "{kind}");
        assert_eq!(t.unbind("k", &args, 7), Ok(false), "{kind}");
        assert!(t.is_empty(), "{kind}");
        assert_eq!(route(&t, "k", Some(&hdrs)), NONE, "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS N1: key lengths

#[test]
fn keys_over_255_bytes_are_local_errors_naming_the_input() {
    // SEMANTICS N1: routing and binding keys are at most 255 bytes; longer -> local error (F5)
    let ok = "k".repeat(255);
    let long = "k".repeat(256);
    for kind in ExchangeType::ALL {
        let t = ExchangeTable::new(kind);
        assert_eq!(t.bind(&ok, &no_args(), 1), Ok(true), "{kind}");
        let bind_input = if kind == ExchangeType::Topic {
            Input::Pattern
        } else {
            Input::BindingKey
        };
        for err in [
            t.bind(&long, &no_args(), 2).unwrap_err(),
            t.unbind(&long, &no_args(), 1).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::TooLong, "{kind}");
            assert_eq!(err.scope(), Scope::Local, "{kind}");
            assert_eq!(err.input(), Some(bind_input), "{kind}");
        }
        assert_eq!(t.len(), 1, "{kind}: a failed call changes nothing");

        let mut out = DestSet::new();
        out.insert(99);
        let err = t.route(&long, None, &mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLong, "{kind}");
        assert_eq!(err.input(), Some(Input::RoutingKey), "{kind}");
        assert_eq!(out.as_slice(), [99], "{kind}: a failed route adds nothing");
        let err = route_with_cc(&t, &long, None, &mut out).unwrap_err();
        assert_eq!(err.input(), Some(Input::RoutingKey), "{kind}");
        assert_eq!(out.as_slice(), [99], "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS E1: fanout

#[test]
fn fanout_ignores_the_routing_key() {
    // SEMANTICS E1: fanout routes to every bound destination, keys ignored
    let t = ExchangeTable::new(ExchangeType::Fanout);
    t.bind("x", &no_args(), 1).unwrap();
    t.bind("", &no_args(), 2).unwrap();
    t.bind("#", &no_args(), 3).unwrap();
    for key in ["", "x", "anything.at.all", "#"] {
        assert_eq!(route(&t, key, None), [1, 2, 3], "key {key:?}");
    }
}

#[test]
fn fanout_binding_is_a_key_destination_pair() {
    // SEMANTICS E5: bindings are a set over (source, destination, key, arguments)
    let t = FanoutTable::new();
    assert_eq!(t.bind("a", 1u32), Ok(true));
    assert_eq!(t.bind("b", 1), Ok(true));
    assert_eq!(t.bind("a", 1), Ok(false));
    assert_eq!(t.len(), 2);
    let r = || {
        let mut out = DestSet::new();
        t.route(&mut out);
        sorted_distinct(&out)
    };
    assert_eq!(r(), [1], "one copy for two bindings");
    assert_eq!(t.unbind("a", 1), Ok(true));
    assert_eq!(r(), [1], "still bound under \"b\"");
    assert_eq!(t.unbind("a", 1), Ok(false));
    assert_eq!(t.unbind("b", 1), Ok(true));
    assert_eq!(r(), NONE);
    assert!(t.is_empty());
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS T: topic through the exchange table

#[test]
fn topic_tutorial_five() {
    // SEMANTICS T5
    let t = ExchangeTable::new(ExchangeType::Topic);
    t.bind("*.orange.*", &no_args(), 1).unwrap();
    t.bind("*.*.rabbit", &no_args(), 2).unwrap();
    t.bind("lazy.#", &no_args(), 2).unwrap();
    assert_eq!(route(&t, "quick.orange.rabbit", None), [1, 2]);
    assert_eq!(route(&t, "lazy.pink.rabbit", None), [2]);
    assert_eq!(route(&t, "lazy", None), [2]);
    assert_eq!(route(&t, "orange", None), NONE);
    assert_eq!(route(&t, "quick.orange.new.rabbit", None), NONE);
}

#[test]
fn topic_table_alone() {
    // SEMANTICS T3 (`#` is zero or more words), T4 (`a.*` matches `a.` but not `a`)
    let t = TopicTable::new();
    t.bind("a.*", 1u32).unwrap();
    t.bind("a.#", 2).unwrap();
    let r = |key: &str| {
        let mut out = DestSet::new();
        t.route(key, &mut out).unwrap();
        sorted_distinct(&out)
    };
    assert_eq!(r("a"), [2]);
    assert_eq!(r("a."), [1, 2]);
    assert_eq!(r("a.b.c"), [2]);
    assert_eq!(t.unbind("a.#", 2), Ok(true));
    assert_eq!(r("a"), NONE);
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS E3: headers

#[test]
fn headers_all_is_the_default() {
    // SEMANTICS E3: `all` (default)
    let t = headers_with(
        FieldTable::new()
            .with("format", "pdf")
            .with("type", "report"),
    );
    let both = FieldTable::new()
        .with("format", "pdf")
        .with("type", "report")
        .with("extra", 1u8);
    assert!(hits(&t, Some(&both)), "extra headers do not matter");
    assert!(!hits(&t, Some(&FieldTable::new().with("format", "pdf"))));
    let wrong = FieldTable::new().with("format", "pdf").with("type", "log");
    assert!(!hits(&t, Some(&wrong)));
    assert!(!hits(&t, None));

    let explicit = headers_with(
        FieldTable::new()
            .with("x-match", "all")
            .with("format", "pdf")
            .with("type", "report"),
    );
    assert!(hits(&explicit, Some(&both)));
    assert!(!hits(&explicit, Some(&wrong)));
}

#[test]
fn headers_any_needs_one_term() {
    // SEMANTICS E3: `any`
    let t = headers_with(
        FieldTable::new()
            .with("x-match", "any")
            .with("format", "pdf")
            .with("type", "report"),
    );
    assert!(hits(&t, Some(&FieldTable::new().with("format", "pdf"))));
    assert!(hits(
        &t,
        Some(
            &FieldTable::new()
                .with("type", "report")
                .with("format", "zip")
        )
    ));
    assert!(!hits(&t, Some(&FieldTable::new().with("format", "zip"))));
    assert!(!hits(&t, Some(&FieldTable::new())));
    assert!(!hits(&t, None));
}

#[test]
fn headers_x_arguments_are_terms_only_with_x() {
    // SEMANTICS E3: `x-…` arguments are terms only in `-with-x` modes
    let msg_with_x = FieldTable::new().with("x-tag", "blue").with("a", 1i32);
    let msg_without_x = FieldTable::new().with("a", 1i32);
    let msg_wrong_x = FieldTable::new().with("x-tag", "red").with("a", 1i32);

    let all = headers_with(FieldTable::new().with("x-tag", "blue").with("a", 1i32));
    assert!(hits(&all, Some(&msg_without_x)), "plain all skips x- terms");
    assert!(hits(&all, Some(&msg_wrong_x)));

    let all_x = headers_with(
        FieldTable::new()
            .with("x-match", "all-with-x")
            .with("x-tag", "blue")
            .with("a", 1i32),
    );
    assert!(hits(&all_x, Some(&msg_with_x)));
    assert!(!hits(&all_x, Some(&msg_without_x)));
    assert!(!hits(&all_x, Some(&msg_wrong_x)));

    let any = headers_with(
        FieldTable::new()
            .with("x-match", "any")
            .with("x-tag", "blue"),
    );
    assert!(
        !hits(&any, Some(&msg_with_x)),
        "plain any has no terms here"
    );

    let any_x = headers_with(
        FieldTable::new()
            .with("x-match", "any-with-x")
            .with("x-tag", "blue")
            .with("a", 2i32),
    );
    assert!(hits(&any_x, Some(&msg_with_x)));
    assert!(!hits(&any_x, Some(&msg_wrong_x)));
}

#[test]
fn headers_x_match_is_never_a_term() {
    // SEMANTICS E3: `x-match` never is a term, even in `-with-x` modes
    let all_x = headers_with(FieldTable::new().with("x-match", "all-with-x"));
    assert!(
        hits(&all_x, None),
        "all-with-x with no other terms matches everything"
    );
    let any_x = headers_with(FieldTable::new().with("x-match", "any-with-x"));
    let msg = FieldTable::new().with("x-match", "any-with-x");
    assert!(
        !hits(&any_x, Some(&msg)),
        "a message's x-match header is not a match for it"
    );
}

#[test]
fn headers_no_terms_all_matches_everything_any_nothing() {
    // SEMANTICS E3: with no terms, `all` matches every message and `any` none
    let msg = FieldTable::new().with("a", 1i32);
    for (args, expect) in [
        (FieldTable::new(), true),
        (FieldTable::new().with("x-match", "all"), true),
        (
            FieldTable::new()
                .with("x-match", "all")
                .with("x-only", 1i32),
            true,
        ),
        (FieldTable::new().with("x-match", "any"), false),
        (
            FieldTable::new()
                .with("x-match", "any")
                .with("x-only", 1i32),
            false,
        ),
    ] {
        let t = headers_with(args.clone());
        assert_eq!(hits(&t, Some(&msg)), expect, "{args}");
        assert_eq!(hits(&t, None), expect, "{args}: no headers = empty table");
        assert_eq!(hits(&t, Some(&FieldTable::new())), expect, "{args}");
    }
}

#[test]
fn headers_void_term_tests_presence() {
    // SEMANTICS E3: a void term needs the header present (any value)
    for value in [
        s("x"),
        FieldValue::I8(0),
        FieldValue::Bool(false),
        FieldValue::Void,
    ] {
        assert!(
            term_matches("all", FieldValue::Void, value.clone()),
            "{value}"
        );
        assert!(
            term_matches("any", FieldValue::Void, value.clone()),
            "{value}"
        );
    }
    let t = headers_with(FieldTable::new().with("h", FieldValue::Void));
    assert!(!hits(&t, Some(&FieldTable::new().with("other", 1u8))));
    assert!(!hits(&t, None));
    // A void header satisfies only a presence test.
    assert!(!term_matches("all", s(""), FieldValue::Void));
    assert!(!term_matches("all", FieldValue::I32(0), FieldValue::Void));
}

#[test]
fn headers_integer_widths_are_one_class() {
    // SEMANTICS E3: integer widths are one class
    use FieldValue as V;
    let ones = [
        V::I8(1),
        V::U8(1),
        V::I16(1),
        V::U16(1),
        V::I32(1),
        V::U32(1),
        V::I64(1),
        V::U64(1),
    ];
    for a in &ones {
        for b in &ones {
            assert!(term_matches("all", a.clone(), b.clone()), "{a:?} vs {b:?}");
        }
    }
    assert!(term_matches("all", V::I8(-1), V::I64(-1)));
    assert!(
        !term_matches("all", V::I8(-1), V::U8(255)),
        "by value, not by bits"
    );
    assert!(!term_matches("all", V::U64(u64::MAX), V::I64(-1)));
    assert!(term_matches("all", V::U64(u64::MAX), V::U64(u64::MAX)));
    assert!(!term_matches("all", V::I32(1), V::I32(2)));
}

#[test]
fn headers_values_need_the_same_type_class() {
    // SEMANTICS E3: an equal value of the same type class
    use FieldValue as V;
    // Integers and floats are different classes.
    assert!(!term_matches("all", V::I32(1), V::F64(1.0)));
    assert!(!term_matches("all", V::F64(1.0), V::I32(1)));
    // Floats compare as floats, either width.
    assert!(term_matches("all", V::F32(1.5), V::F64(1.5)));
    assert!(term_matches("all", V::F64(0.0), V::F64(-0.0)));
    assert!(!term_matches("all", V::F64(f64::NAN), V::F64(f64::NAN)));
    assert!(
        !term_matches("all", V::F32(0.1), V::F64(0.1)),
        "f32 0.1 is not f64 0.1"
    );
    // Strings compare as bytes; a byte array is a string of bytes too (as in RabbitMQ).
    assert!(term_matches("all", s("pdf"), V::ByteArray(b"pdf".to_vec())));
    assert!(term_matches("all", V::ByteArray(b"pdf".to_vec()), s("pdf")));
    assert!(term_matches(
        "all",
        V::LongString(vec![0xff]),
        V::LongString(vec![0xff])
    ));
    assert!(!term_matches("all", s("pdf"), s("PDF")));
    assert!(!term_matches("all", s("1"), V::I32(1)));
    // The empty string is a string like any other (and never the void value).
    assert!(term_matches("all", s(""), s("")));
    assert!(term_matches("all", s(""), V::ByteArray(Vec::new())));
    assert!(!term_matches("all", s(""), s("a")));
    assert!(!term_matches("all", s("a"), s("")));
    assert!(!term_matches("all", s(""), V::Void));
    // Booleans are their own class.
    assert!(term_matches("all", V::Bool(true), V::Bool(true)));
    assert!(!term_matches("all", V::Bool(true), V::Bool(false)));
    assert!(!term_matches("all", V::Bool(true), V::I8(1)));
    assert!(!term_matches("all", V::I8(0), V::Bool(false)));
    // Timestamps are their own class (warren: see the route module doc).
    assert!(term_matches("all", V::Timestamp(5), V::Timestamp(5)));
    assert!(!term_matches("all", V::Timestamp(5), V::I64(5)));
    assert!(!term_matches("all", V::I64(5), V::Timestamp(5)));
    // Decimals: same scale and digits.
    let d = |scale, value| V::Decimal { scale, value };
    assert!(term_matches("all", d(1, 10), d(1, 10)));
    assert!(!term_matches("all", d(1, 10), d(0, 1)));
    assert!(!term_matches("all", d(0, 1), V::I32(1)));
    // Arrays and tables: identical, element types included.
    let arr = V::Array(vec![V::I32(1), s("a")]);
    assert!(term_matches("all", arr.clone(), arr.clone()));
    assert!(!term_matches(
        "all",
        arr.clone(),
        V::Array(vec![V::I64(1), s("a")])
    ));
    assert!(!term_matches("all", arr, V::Array(vec![s("a"), V::I32(1)])));
    let tbl = V::Table(FieldTable::new().with("k", 1u8));
    assert!(term_matches("all", tbl.clone(), tbl.clone()));
    assert!(!term_matches(
        "all",
        tbl,
        V::Table(FieldTable::new().with("k", 1u16))
    ));
}

#[test]
fn headers_invalid_x_match_is_406_naming_the_argument() {
    // SEMANTICS E3: any other x-match value -> 406; a non-string x-match -> 406
    let t = HeadersTable::<u32>::new();
    for bad in ["ALL", "", "none", "all "] {
        let args = FieldTable::new().with("x-match", bad).with("a", 1i32);
        let err = t.bind(&args, 1).unwrap_err();
        assert_406(&err, "x-match");
        assert_406(&err, &format!("'{bad}'"));
    }
    for bad in [
        FieldValue::I32(1),
        FieldValue::Bool(true),
        FieldValue::Void,
        FieldValue::ByteArray(b"all".to_vec()),
        FieldValue::Array(vec![s("all")]),
    ] {
        let args = FieldTable::new().with("x-match", bad.clone());
        let err = t.bind(&args, 1).unwrap_err();
        assert_406(&err, "x-match");
        assert_406(&err, bad.type_name());
    }
    assert!(t.is_empty(), "a failed bind changes nothing");
    // Through the exchange table too; unbinding such arguments is a no-op, not an error.
    let x = ExchangeTable::<u32>::new(ExchangeType::Headers);
    let args = FieldTable::new().with("x-match", "some");
    assert_406(&x.bind("", &args, 1).unwrap_err(), "x-match");
    assert_eq!(x.unbind("", &args, 1), Ok(false));
}

#[test]
fn headers_bindings_are_a_set_over_arguments_and_destination() {
    // SEMANTICS E5: binding twice is a no-op; unbind needs equal arguments
    let t = HeadersTable::new();
    let a = FieldTable::new().with("k", 1i32);
    let a_wider = FieldTable::new().with("k", 1i64);
    assert_eq!(t.bind(&a, 1u32), Ok(true));
    assert_eq!(t.bind(&a, 1), Ok(false));
    assert_eq!(
        t.bind(&a_wider, 1),
        Ok(true),
        "different arguments, a second binding"
    );
    assert_eq!(t.bind(&a, 2), Ok(true));
    assert_eq!(t.len(), 3);
    let msg = FieldTable::new().with("k", 1u8);
    let r = |t: &HeadersTable<u32>| {
        let mut out = DestSet::new();
        t.route(Some(&msg), &mut out);
        sorted_distinct(&out)
    };
    assert_eq!(r(&t), [1, 2], "one copy of 1 for two matching bindings");
    assert!(
        !t.unbind(&FieldTable::new().with("k", 1u8), 1),
        "needs equal arguments"
    );
    assert!(t.unbind(&a, 1));
    assert_eq!(r(&t), [1, 2], "still bound by the wider binding");
    assert!(t.unbind(&a_wider, 1));
    assert_eq!(r(&t), [2]);
    // The binding key plays no part in a headers exchange.
    let x = ExchangeTable::new(ExchangeType::Headers);
    assert_eq!(x.bind("k1", &a, 5), Ok(true));
    assert_eq!(x.bind("k2", &a, 5), Ok(false));
    assert_eq!(route(&x, "whatever", Some(&msg)), [5]);
    assert_eq!(x.unbind("k3", &a, 5), Ok(true));
    assert!(x.is_empty());
}

#[test]
fn headers_route_ignores_the_routing_key_and_direct_ignores_headers() {
    // SEMANTICS E1: each type routes by its own rule
    let h = ExchangeTable::new(ExchangeType::Headers);
    h.bind("key", &FieldTable::new().with("a", 1i32), 1)
        .unwrap();
    let msg = FieldTable::new().with("a", 1i32);
    assert_eq!(route(&h, "other", Some(&msg)), [1]);
    let d = ExchangeTable::new(ExchangeType::Direct);
    d.bind("key", &FieldTable::new().with("a", 2i32), 1)
        .unwrap();
    assert_eq!(route(&d, "key", Some(&msg)), [1]);
    assert_eq!(route(&d, "other", Some(&msg)), NONE);
}

// ---------------------------------------------------------------------------------------------
// SEMANTICS P4: CC and BCC

#[test]
fn cc_and_bcc_route_the_union_of_all_keys() {
    // SEMANTICS P4: the route is the union over all keys; T2: one copy per destination
    let t = ExchangeTable::new(ExchangeType::Topic);
    t.bind("a.*", &no_args(), 1).unwrap();
    t.bind("b.#", &no_args(), 2).unwrap();
    t.bind("c", &no_args(), 3).unwrap();
    t.bind("#", &no_args(), 4).unwrap();
    t.bind("d", &no_args(), 5).unwrap();
    let headers = FieldTable::new()
        .with("CC", vec![s("b"), s("a.x")])
        .with("BCC", vec![s("c"), s("c")]);
    assert_eq!(route_cc(&t, "a.y", Some(&headers)), [1, 2, 3, 4]);
    assert_eq!(
        route(&t, "a.y", Some(&headers)),
        [1, 4],
        "plain route: publish key only"
    );
    let only_bcc = FieldTable::new().with("BCC", vec![s("d")]);
    assert_eq!(route_cc(&t, "zzz", Some(&only_bcc)), [4, 5]);
    assert_eq!(route_cc(&t, "d", None), [4, 5]);
}

#[test]
fn cc_entries_that_are_not_strings_are_skipped() {
    // SEMANTICS P4, following RabbitMQ's rabbit_basic:header_routes (long strings only)
    let t = ExchangeTable::new(ExchangeType::Direct);
    t.bind("a", &no_args(), 1).unwrap();
    t.bind("b", &no_args(), 2).unwrap();
    let headers = FieldTable::new().with(
        "CC",
        vec![
            FieldValue::I32(1),
            FieldValue::ByteArray(b"a".to_vec()),
            FieldValue::Array(vec![s("a")]),
            s("b"),
        ],
    );
    assert_eq!(route_cc(&t, "zzz", Some(&headers)), [2]);
    let keys: Vec<&str> = routing_keys("zzz", Some(&headers)).unwrap().collect();
    assert_eq!(keys, ["zzz", "b"]);
}

#[test]
fn cc_that_is_not_an_array_is_406_and_routes_nothing() {
    // SEMANTICS P4 + P1 (checks precede routing), following RabbitMQ (406 on a bad CC type)
    for kind in ExchangeType::ALL {
        let t = ExchangeTable::new(kind);
        t.bind("a", &no_args(), 1).unwrap();
        for name in ["CC", "BCC"] {
            let headers = FieldTable::new().with(name, "a");
            let mut out = DestSet::new();
            let err = route_with_cc(&t, "a", Some(&headers), &mut out).unwrap_err();
            assert_406(&err, &format!("'{name}'"));
            assert!(out.is_empty(), "{kind}: nothing routed");
        }
    }
}

#[test]
fn cc_entries_are_checked_as_routing_keys_before_routing() {
    // SEMANTICS N1 (a CC key is a routing key) + P1 (a failed publish routes nothing)
    let t = ExchangeTable::new(ExchangeType::Direct);
    t.bind("a", &no_args(), 1).unwrap();
    let long = "k".repeat(256);
    let bad_utf8 = FieldValue::LongString(vec![b'a', 0xff]);
    for headers in [
        FieldTable::new().with("CC", vec![s(&long)]),
        FieldTable::new().with("BCC", vec![bad_utf8]),
    ] {
        let mut out = DestSet::new();
        let err = route_with_cc(&t, "a", Some(&headers), &mut out).unwrap_err();
        assert_eq!(err.scope(), Scope::Local, "{err}");
        assert_eq!(err.input(), Some(Input::RoutingKey), "{err}");
        assert!(
            out.is_empty(),
            "the publish key's destination was not added either"
        );
    }
}

#[test]
fn cc_with_fanout_and_headers_routes_once() {
    // SEMANTICS P4 with exchanges that ignore keys: the union is the single route
    let f = ExchangeTable::new(ExchangeType::Fanout);
    f.bind("", &no_args(), 1).unwrap();
    let headers = FieldTable::new()
        .with("CC", vec![s("x"), s("y")])
        .with("a", 1u8);
    assert_eq!(route_cc(&f, "k", Some(&headers)), [1]);
    let h = ExchangeTable::new(ExchangeType::Headers);
    h.bind("", &FieldTable::new().with("a", 1i32), 2).unwrap();
    assert_eq!(route_cc(&h, "k", Some(&headers)), [2]);
}

// ---------------------------------------------------------------------------------------------
// DESIGN invariants: routing while bindings change

/// Runs its closure when dropped, also while unwinding.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// While one thread binds and unbinds destination 2, routing threads check that the stable
/// destination 1 is always found, and that destination 2 is found exactly when it was bound for
/// the whole route. The writer announces each step in `phase` before and after it (`4i`:
/// unbound and idle, `4i+1`: binding, `4i+2`: bound and idle, `4i+3`: unbinding); a route that
/// read the same idle phase before and after ran while nothing changed, so it must agree with it
/// (a returned bind is seen, a returned unbind is not). A route overlapping a change may see
/// either state and is not judged.
///
/// Every table gets the same message: key `s`, headers `{stable, churn, CC: ["c"]}`. The stable
/// binding is key `s` / arguments `{stable}`; the churning one key `c` (`#` for topic) /
/// arguments `{churn}`, so each type finds 2 exactly when it is bound.
fn race(kind: ExchangeType) {
    const ROUNDS: u64 = 200;
    const READERS: u64 = 2;
    let table = ExchangeTable::new(kind);
    let stable_args = FieldTable::new().with("stable", 1i32);
    let churn_args = FieldTable::new().with("churn", 1i32);
    let churn_key = if kind == ExchangeType::Topic {
        "#"
    } else {
        "c"
    };
    let headers = FieldTable::new()
        .with("stable", 1u8)
        .with("churn", 1u64)
        .with("CC", vec![s("c")]);
    table.bind("s", &stable_args, 1u32).unwrap();
    let phase = AtomicU64::new(0);
    // The latest idle phase a route was judged in; the writer waits for each one to be judged.
    let judged = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    // Readers still running: one that fails stops the writer's waits, so the test fails
    // instead of hanging.
    let running = AtomicU64::new(READERS);
    std::thread::scope(|scope| {
        for _ in 0..READERS {
            scope.spawn(|| {
                let _exit = OnDrop(|| {
                    running.fetch_sub(1, SeqCst);
                });
                let mut out = DestSet::new();
                loop {
                    let finished = done.load(SeqCst);
                    out.clear();
                    let before = phase.load(SeqCst);
                    route_with_cc(&table, "s", Some(&headers), &mut out).unwrap();
                    let after = phase.load(SeqCst);
                    assert!(out.contains(&1), "{kind}: a stable binding was missed");
                    if before == after && before.is_multiple_of(2) {
                        assert_eq!(
                            out.contains(&2),
                            before % 4 == 2,
                            "{kind}: phase {before}: {:?}",
                            out.as_slice()
                        );
                        judged.fetch_max(before, SeqCst);
                    }
                    if finished {
                        break;
                    }
                }
            });
        }
        let wait_judged = |p: u64| {
            while judged.load(SeqCst) < p {
                assert_eq!(running.load(SeqCst), READERS, "{kind}: a reader failed");
                std::thread::yield_now();
            }
        };
        for _ in 0..ROUNDS {
            phase.fetch_add(1, SeqCst);
            assert_eq!(table.bind(churn_key, &churn_args, 2), Ok(true));
            wait_judged(phase.fetch_add(1, SeqCst) + 1);
            phase.fetch_add(1, SeqCst);
            assert_eq!(table.unbind(churn_key, &churn_args, 2), Ok(true));
            wait_judged(phase.fetch_add(1, SeqCst) + 1);
        }
        done.store(true, SeqCst);
    });
    assert_eq!(
        judged.load(SeqCst),
        4 * ROUNDS,
        "{kind}: every idle phase was judged"
    );
}

#[test]
fn race_direct() {
    // DESIGN invariants / SEMANTICS T6: a stable binding is never missed, a removed one never
    // matched once unbind has returned
    race(ExchangeType::Direct);
}

#[test]
fn race_fanout() {
    race(ExchangeType::Fanout);
}

#[test]
fn race_topic() {
    race(ExchangeType::Topic);
}

#[test]
fn race_headers() {
    race(ExchangeType::Headers);
}

// ---------------------------------------------------------------------------------------------
// Proptest against the naive model

#[derive(Clone, Debug)]
enum Op {
    Bind(String, FieldTable, u32),
    Unbind(String, FieldTable, u32),
    Route(String, Option<FieldTable>),
    RouteCc(String, Option<FieldTable>),
}

/// Keys and patterns of up to four words from a small alphabet, wildcards included (literal for
/// direct, meaningful for topic).
fn key() -> impl Strategy<Value = String> {
    let word = prop_oneof![Just("a"), Just("b"), Just(""), Just("*"), Just("#")];
    prop::collection::vec(word, 0..4).prop_map(|w| w.join("."))
}

fn value() -> impl Strategy<Value = FieldValue> {
    use FieldValue as V;
    prop_oneof![
        Just(V::I8(1)),
        Just(V::U8(1)),
        Just(V::I64(1)),
        Just(V::U64(2)),
        Just(V::I32(-1)),
        Just(V::F32(1.0)),
        Just(V::F64(1.0)),
        Just(V::LongString(b"a".to_vec())),
        Just(V::ByteArray(b"a".to_vec())),
        Just(V::LongString(b"b".to_vec())),
        Just(V::Bool(true)),
        Just(V::Bool(false)),
        Just(V::Timestamp(1)),
        Just(V::Decimal {
            scale: 1,
            value: 10
        }),
        Just(V::Array(vec![V::I32(1)])),
        Just(V::Array(vec![V::I64(1)])),
        Just(V::Void),
    ]
}

fn name() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("h1"), Just("h2"), Just("x-h")]
}

fn table() -> impl Strategy<Value = FieldTable> {
    prop::collection::vec((name(), value()), 0..3)
        .prop_map(|pairs| pairs.into_iter().collect::<FieldTable>())
}

/// Binding arguments: a few terms and, usually, an `x-match` (valid or not).
fn args() -> impl Strategy<Value = FieldTable> {
    let mode = prop_oneof![
        3 => Just(None),
        2 => Just(Some(FieldValue::from("all"))),
        3 => Just(Some(FieldValue::from("any"))),
        2 => Just(Some(FieldValue::from("all-with-x"))),
        2 => Just(Some(FieldValue::from("any-with-x"))),
        1 => Just(Some(FieldValue::from("bogus"))),
        1 => Just(Some(FieldValue::I32(1))),
    ];
    (mode, table()).prop_map(|(mode, mut t)| {
        if let Some(m) = mode {
            t.insert("x-match", m);
        }
        t
    })
}

/// Message headers, sometimes absent, sometimes with `CC` / `BCC` (usually arrays of keys, with
/// a stray non-string entry, occasionally a non-array).
fn headers() -> impl Strategy<Value = Option<FieldTable>> {
    let keys = prop::collection::vec(key().prop_map(FieldValue::from), 0..3);
    let routing = prop_oneof![
        4 => Just(None),
        4 => keys.prop_map(|k| Some(FieldValue::Array(k))),
        1 => Just(Some(FieldValue::Array(vec![FieldValue::I32(1)]))),
        1 => Just(Some(FieldValue::from("a"))),
    ];
    let present = (table(), routing.clone(), routing).prop_map(|(mut t, cc, bcc)| {
        if let Some(cc) = cc {
            t.insert("CC", cc);
        }
        if let Some(bcc) = bcc {
            t.insert("BCC", bcc);
        }
        t
    });
    prop_oneof![1 => Just(None), 4 => present.prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    let dest = 0u32..4;
    prop_oneof![
        3 => (key(), args(), dest.clone()).prop_map(|(k, a, d)| Op::Bind(k, a, d)),
        2 => (key(), args(), dest).prop_map(|(k, a, d)| Op::Unbind(k, a, d)),
        3 => (key(), headers()).prop_map(|(k, h)| Op::Route(k, h)),
        2 => (key(), headers()).prop_map(|(k, h)| Op::RouteCc(k, h)),
    ]
}

fn model_err(err: &Error) -> ModelError {
    match err.reply_code() {
        Some(code) => ModelError::Amqp(code),
        None => ModelError::Local,
    }
}

fn sorted(out: &DestSet<u32>) -> Result<Vec<u32>, ModelError> {
    Ok(sorted_distinct(out))
}

/// Runs `ops` against a fresh table of type `kind` and the model, step by step.
fn check_against_model(kind: ExchangeType, ops: &[Op]) -> Result<(), TestCaseError> {
    let table = ExchangeTable::new(kind);
    let mut model = RouteModel::new(kind);
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Bind(k, a, d) => {
                let got = table.bind(k, a, *d).map_err(|e| model_err(&e));
                prop_assert_eq!(got, model.bind(k, a, *d), "step {}: {:?}", step, op);
            }
            Op::Unbind(k, a, d) => {
                let got = table.unbind(k, a, *d).map_err(|e| model_err(&e));
                prop_assert_eq!(got, model.unbind(k, a, *d), "step {}: {:?}", step, op);
            }
            Op::Route(k, h) => {
                let mut out = DestSet::new();
                let got = table
                    .route(k, h.as_ref(), &mut out)
                    .map_err(|e| model_err(&e))
                    .and_then(|()| sorted(&out));
                prop_assert_eq!(got, model.route(k, h.as_ref()), "step {}: {:?}", step, op);
            }
            Op::RouteCc(k, h) => {
                let mut out = DestSet::new();
                let got = route_with_cc(&table, k, h.as_ref(), &mut out)
                    .map_err(|e| model_err(&e))
                    .and_then(|()| sorted(&out));
                let want = model.route_with_cc(k, h.as_ref());
                if want.is_err() {
                    prop_assert!(out.is_empty(), "step {}: a failed route adds nothing", step);
                }
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
            }
        }
        prop_assert_eq!(table.len(), model.len(), "step {}: {:?}", step, op);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn direct_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        check_against_model(ExchangeType::Direct, &ops)?;
    }

    #[test]
    fn fanout_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        check_against_model(ExchangeType::Fanout, &ops)?;
    }

    #[test]
    fn topic_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        check_against_model(ExchangeType::Topic, &ops)?;
    }

    #[test]
    fn headers_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        check_against_model(ExchangeType::Headers, &ops)?;
    }
}
