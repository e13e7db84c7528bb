//! The properties of a published message: AMQP 0-9-1's `basic` content header (SEMANTICS P3).
//!
//! [`BasicProperties`] carries them as published, every one optional, and the engine hands
//! them to consumers unchanged (only SEMANTICS P4, R2, A10 and X4 alter them). The builder
//! methods follow lapin's `BasicProperties` (`with_content_type`, `with_headers`, ...), so code
//! moves between the two with few edits.
//!
//! # Checks
//!
//! A publish checks its properties (`check`) before routing anything:
//!
//! * Every string property is at most 255 bytes, as are the field names of `headers` (nested
//!   tables included): AMQP encodes them as short strings, so a client library refuses longer
//!   ones before sending. A local [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) error on
//!   [`Input::Property`] (SEMANTICS N1, F5).
//! * `expiration` is a string of ASCII decimal digits (no sign, no spaces, not empty) whose
//!   value is 0 to 315,360,000,000 ms, ten years (SEMANTICS L1); otherwise the broker refuses the
//!   publish with 406 (SEMANTICS P3).
//!
//! # Limits
//!
//! * `user_id` is not compared with a login (SEMANTICS P3: no login in-process), and
//!   `delivery_mode` values other than 2 all mean transient, as in RabbitMQ.
//! * RabbitMQ's parser also accepts a leading `+` in `expiration` (Erlang's
//!   `string:to_integer`); warren does not: the AMQP type is a decimal string and clients never
//!   send a sign.

use crate::error::{Error, Input};
use crate::message::{FieldTable, FieldValue};
use crate::topic::check_len;

/// The largest message TTL and `expiration`, in ms: ten years (SEMANTICS L1).
pub(crate) const MAX_TTL_MS: u64 = 315_360_000_000;

/// The properties of a message (AMQP 0-9-1 `basic` class), as published (SEMANTICS P3).
///
/// Build one from [`Default`] with the `with_*` methods:
///
/// ```
/// use warren::message::FieldTable;
/// use warren::BasicProperties;
///
/// let props = BasicProperties::default()
///     .with_content_type("application/json")
///     .with_correlation_id("req-7")
///     .with_reply_to("amq.rabbitmq.reply-to")
///     .with_headers(FieldTable::new().with("tenant", "acme"))
///     .persistent();
/// assert!(props.is_persistent());
/// assert_eq!(props.content_type.as_deref(), Some("application/json"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BasicProperties {
    /// MIME content type (`content-type`), e.g. `application/json`.
    pub content_type: Option<String>,
    /// MIME content encoding (`content-encoding`), e.g. `gzip`.
    pub content_encoding: Option<String>,
    /// Application headers; headers exchanges match on them (SEMANTICS E3), `CC` and `BCC` add
    /// routing keys (SEMANTICS P4).
    pub headers: Option<FieldTable>,
    /// 2 for persistent, any other value (or none) for transient.
    pub delivery_mode: Option<u8>,
    /// Message priority, 0 to 255; used by queues with `x-max-priority` (SEMANTICS L7).
    pub priority: Option<u8>,
    /// Application correlation id, typically matching an RPC reply to its request
    /// (SEMANTICS R1).
    pub correlation_id: Option<String>,
    /// The queue to reply to (SEMANTICS R1, R2).
    pub reply_to: Option<String>,
    /// Per-message TTL: a decimal string of milliseconds, 0 to 315,360,000,000
    /// (SEMANTICS L1).
    pub expiration: Option<String>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Seconds since the Unix epoch, set by the publisher (never by the engine).
    pub timestamp: Option<u64>,
    /// The message type name: AMQP's `type` property (`type` is a Rust keyword).
    pub kind: Option<String>,
    /// The publishing user id; not checked in-process (SEMANTICS P3).
    pub user_id: Option<String>,
    /// The publishing application's id.
    pub app_id: Option<String>,
    /// Cluster id (deprecated in AMQP 0-9-1, carried unchanged).
    pub cluster_id: Option<String>,
}

/// Defines `with_*` builder methods for string properties.
macro_rules! string_setters {
    ($($(#[$doc:meta])* $method:ident => $field:ident;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $method(mut self, value: impl Into<String>) -> Self {
            self.$field = Some(value.into());
            self
        }
    )*};
}

impl BasicProperties {
    string_setters! {
        /// Sets `content_type`.
        with_content_type => content_type;
        /// Sets `content_encoding`.
        with_content_encoding => content_encoding;
        /// Sets `correlation_id`.
        with_correlation_id => correlation_id;
        /// Sets `reply_to`.
        with_reply_to => reply_to;
        /// Sets `expiration` (decimal milliseconds, checked on publish).
        with_expiration => expiration;
        /// Sets `message_id`.
        with_message_id => message_id;
        /// Sets `kind`, AMQP's `type` property.
        with_kind => kind;
        /// Sets `user_id`.
        with_user_id => user_id;
        /// Sets `app_id`.
        with_app_id => app_id;
        /// Sets `cluster_id`.
        with_cluster_id => cluster_id;
    }

    /// Sets `headers`.
    #[must_use]
    pub fn with_headers(mut self, headers: FieldTable) -> Self {
        self.headers = Some(headers);
        self
    }

    /// Sets `delivery_mode` (2 = persistent).
    #[must_use]
    pub fn with_delivery_mode(mut self, mode: u8) -> Self {
        self.delivery_mode = Some(mode);
        self
    }

    /// Sets `priority`.
    #[must_use]
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets `timestamp` (seconds since the Unix epoch).
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Marks the message persistent: `delivery_mode` 2.
    #[must_use]
    pub fn persistent(self) -> Self {
        self.with_delivery_mode(2)
    }

    /// Whether `delivery_mode` is 2.
    pub fn is_persistent(&self) -> bool {
        self.delivery_mode == Some(2)
    }

    /// Checks the properties for a publish (see the module doc) and returns the `expiration`
    /// in ms, if any.
    ///
    /// # Errors
    ///
    /// A local [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) on [`Input::Property`] for a
    /// string property or header field name over 255 bytes (checked first, as a client
    /// library would before sending); a 406 for an `expiration` that is not decimal digits in
    /// 0..=315,360,000,000.
    /// No property set: what most benchmark messages carry. Messages keep such properties
    /// as nothing at all, so the publish path copies no 300-byte struct for them.
    pub(crate) const EMPTY: BasicProperties = BasicProperties {
        content_type: None,
        content_encoding: None,
        headers: None,
        delivery_mode: None,
        priority: None,
        correlation_id: None,
        reply_to: None,
        expiration: None,
        message_id: None,
        timestamp: None,
        kind: None,
        user_id: None,
        app_id: None,
        cluster_id: None,
    };

    /// Whether no property is set.
    pub(crate) fn is_empty(&self) -> bool {
        // A destructuring, so a new field cannot be forgotten here.
        let BasicProperties {
            content_type,
            content_encoding,
            headers,
            delivery_mode,
            priority,
            correlation_id,
            reply_to,
            expiration,
            message_id,
            timestamp,
            kind,
            user_id,
            app_id,
            cluster_id,
        } = self;
        content_type.is_none()
            && content_encoding.is_none()
            && headers.is_none()
            && delivery_mode.is_none()
            && priority.is_none()
            && correlation_id.is_none()
            && reply_to.is_none()
            && expiration.is_none()
            && message_id.is_none()
            && timestamp.is_none()
            && kind.is_none()
            && user_id.is_none()
            && app_id.is_none()
            && cluster_id.is_none()
    }

    pub(crate) fn check(&self) -> Result<Option<u64>, Error> {
        let strings = [
            &self.content_type,
            &self.content_encoding,
            &self.correlation_id,
            &self.reply_to,
            &self.expiration,
            &self.message_id,
            &self.kind,
            &self.user_id,
            &self.app_id,
            &self.cluster_id,
        ];
        for s in strings.into_iter().flatten() {
            check_len(s, Input::Property)?;
        }
        if let Some(headers) = &self.headers {
            check_table(headers)?;
        }
        self.expiration.as_deref().map(parse_expiration).transpose()
    }
}

/// How deep tables and arrays may nest in headers and arguments (a top-level table is level
/// 1): the durable log reads no deeper, so nothing deeper is accepted anywhere.
pub(crate) const MAX_NESTING: usize = 64;

/// Checks a field table given by the application (message headers, declare and bind
/// arguments): every field name, nested ones included, at most 255 bytes (a local error,
/// SEMANTICS N1), and tables and arrays nested at most [`MAX_NESTING`] levels (406). Walks
/// with an explicit stack, so deep nesting cannot overflow the call stack.
pub(crate) fn check_table(table: &FieldTable) -> Result<(), Error> {
    let mut pending: Vec<(&FieldValue, usize)> = Vec::new();
    check_names_of(table, 1, &mut pending)?;
    while let Some((value, depth)) = pending.pop() {
        if depth > MAX_NESTING {
            return Err(Error::amqp(
                406,
                format!(
                    "PRECONDITION_FAILED - field table nested deeper than {MAX_NESTING} levels"
                ),
            ));
        }
        match value {
            FieldValue::Table(t) => check_names_of(t, depth, &mut pending)?,
            FieldValue::Array(items) => pending.extend(
                items
                    .iter()
                    .filter(|v| is_nested(v))
                    .map(|v| (v, depth + 1)),
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the field names of `table` (at nesting level `depth`) and pushes its nested tables
/// and arrays with their levels.
fn check_names_of<'a>(
    table: &'a FieldTable,
    depth: usize,
    pending: &mut Vec<(&'a FieldValue, usize)>,
) -> Result<(), Error> {
    for (name, value) in table {
        check_len(name, Input::Property)?;
        if is_nested(value) {
            pending.push((value, depth + 1));
        }
    }
    Ok(())
}

/// Whether `value` may hold field names: a table, or an array that may hold one.
fn is_nested(value: &FieldValue) -> bool {
    matches!(value, FieldValue::Table(_) | FieldValue::Array(_))
}

/// Parses an `expiration` property: ASCII decimal digits, 0..=[`MAX_TTL_MS`].
fn parse_expiration(text: &str) -> Result<u64, Error> {
    let reason = if text.is_empty() {
        "empty"
    } else if !text.bytes().all(|b| b.is_ascii_digit()) {
        "not a decimal number of milliseconds"
    } else {
        match text.parse::<u64>() {
            Ok(ms) if ms <= MAX_TTL_MS => return Ok(ms),
            _ => "value too large, at most 315360000000 ms",
        }
    };
    Err(Error::amqp(
        406,
        format!("PRECONDITION_FAILED - invalid expiration '{text}': {reason}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Scope};

    fn with_expiration(text: &str) -> BasicProperties {
        BasicProperties::default().with_expiration(text)
    }

    #[test]
    fn builders_set_every_field() {
        let headers = FieldTable::new().with("a", 1u8);
        let p = BasicProperties::default()
            .with_content_type("text/plain")
            .with_content_encoding("gzip")
            .with_headers(headers.clone())
            .with_delivery_mode(1)
            .with_priority(9)
            .with_correlation_id("c")
            .with_reply_to("r")
            .with_expiration("60000")
            .with_message_id("m")
            .with_timestamp(1_700_000_000)
            .with_kind("order.created")
            .with_user_id("guest")
            .with_app_id("shop")
            .with_cluster_id("cl");
        let expected = BasicProperties {
            content_type: Some("text/plain".into()),
            content_encoding: Some("gzip".into()),
            headers: Some(headers),
            delivery_mode: Some(1),
            priority: Some(9),
            correlation_id: Some("c".into()),
            reply_to: Some("r".into()),
            expiration: Some("60000".into()),
            message_id: Some("m".into()),
            timestamp: Some(1_700_000_000),
            kind: Some("order.created".into()),
            user_id: Some("guest".into()),
            app_id: Some("shop".into()),
            cluster_id: Some("cl".into()),
        };
        assert_eq!(p, expected);
        assert!(!p.is_persistent());
        assert_eq!(p.check().unwrap(), Some(60_000));
    }

    #[test]
    fn p3_persistent_is_delivery_mode_2() {
        assert!(!BasicProperties::default().is_persistent());
        let p = BasicProperties::default().persistent();
        assert_eq!(p.delivery_mode, Some(2));
        assert!(p.is_persistent());
        assert!(!BasicProperties::default()
            .with_delivery_mode(1)
            .is_persistent());
        assert!(!BasicProperties::default()
            .with_delivery_mode(3)
            .is_persistent());
    }

    #[test]
    fn p3_no_expiration_checks_to_none() {
        assert_eq!(BasicProperties::default().check().unwrap(), None);
    }

    #[test]
    fn l1_expiration_boundaries_accepted() {
        assert_eq!(with_expiration("0").check().unwrap(), Some(0));
        assert_eq!(with_expiration("1").check().unwrap(), Some(1));
        assert_eq!(
            with_expiration("315360000000").check().unwrap(),
            Some(MAX_TTL_MS)
        );
        // Leading zeros are still decimal digits.
        assert_eq!(with_expiration("000042").check().unwrap(), Some(42));
    }

    #[test]
    fn l1_expiration_refused_with_406() {
        for bad in [
            "315360000001",
            "-1",
            "+5",
            " 5",
            "5 ",
            "",
            "1e3",
            "1.5",
            "abc",
            "0x10",
            "٣", // an Arabic-Indic digit: not ASCII
            "99999999999999999999999999",
        ] {
            let err = with_expiration(bad).check().unwrap_err();
            assert_eq!(err.reply_code(), Some(406), "{bad:?}");
            assert_eq!(err.scope(), Scope::Channel, "{bad:?}");
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "406 PRECONDITION_FAILED - invalid expiration '{bad}'"
                )),
                "{text}"
            );
        }
        assert_eq!(
            with_expiration("315360000001")
                .check()
                .unwrap_err()
                .to_string(),
            "406 PRECONDITION_FAILED - invalid expiration '315360000001': value too large, at \
             most 315360000000 ms"
        );
        assert_eq!(
            with_expiration("-1").check().unwrap_err().to_string(),
            "406 PRECONDITION_FAILED - invalid expiration '-1': not a decimal number of \
             milliseconds"
        );
        assert_eq!(
            with_expiration("").check().unwrap_err().to_string(),
            "406 PRECONDITION_FAILED - invalid expiration '': empty"
        );
    }

    /// Every string property, set to `value`.
    fn each_string_property(value: &str) -> Vec<BasicProperties> {
        let d = BasicProperties::default;
        vec![
            d().with_content_type(value),
            d().with_content_encoding(value),
            d().with_correlation_id(value),
            d().with_reply_to(value),
            d().with_message_id(value),
            d().with_kind(value),
            d().with_user_id(value),
            d().with_app_id(value),
            d().with_cluster_id(value),
        ]
    }

    #[test]
    fn n1_string_properties_at_most_255_bytes() {
        for p in each_string_property(&"é".repeat(127)) {
            assert_eq!(p.check().unwrap(), None, "{p:?}"); // 254 bytes
        }
        for p in each_string_property(&"a".repeat(255)) {
            assert_eq!(p.check().unwrap(), None, "{p:?}");
        }
        for p in each_string_property(&"a".repeat(256)) {
            let err = p.check().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TooLong, "{p:?}");
            assert_eq!(err.scope(), Scope::Local);
            assert_eq!(err.reply_code(), None);
            assert_eq!(err.input(), Some(Input::Property));
            assert!(err.to_string().starts_with("property too long: 256 bytes"));
        }
    }

    #[test]
    fn n1_long_expiration_is_a_local_error_before_its_value() {
        let err = with_expiration(&"1".repeat(256)).check().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLong);
        assert_eq!(err.scope(), Scope::Local);
    }

    #[test]
    fn n1_header_names_at_most_255_bytes() {
        let ok = FieldTable::new()
            .with("k".repeat(255), 1u8)
            .with("v", "x".repeat(1_000)); // values are long strings: no limit
        let p = BasicProperties::default().with_headers(ok);
        assert_eq!(p.check().unwrap(), None);

        let long = "k".repeat(256);
        let top = FieldTable::new().with(long.as_str(), 1u8);
        let nested = FieldTable::new().with("outer", FieldTable::new().with(long.as_str(), 1u8));
        let in_array = FieldTable::new().with(
            "list",
            vec![
                FieldValue::from(1u8),
                FieldValue::Array(vec![FieldTable::new().with(long.as_str(), 1u8).into()]),
            ],
        );
        for headers in [top, nested, in_array] {
            let err = BasicProperties::default()
                .with_headers(headers.clone())
                .check()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TooLong, "{headers}");
            assert_eq!(err.input(), Some(Input::Property));
            assert_eq!(err.scope(), Scope::Local);
        }
    }

    #[test]
    fn n1_deeply_nested_headers_do_not_overflow_the_stack() {
        let mut value = FieldValue::from(FieldTable::new().with("k".repeat(256), 1u8));
        for _ in 0..100_000 {
            value = FieldValue::Array(vec![value]);
        }
        let p = BasicProperties::default().with_headers(FieldTable::new().with("deep", value));
        let err = p.check();
        // Dropping 100,000 nested arrays recurses (the derived drop glue) and could overflow
        // the test thread's stack: leak them; the test only checks that `check` iterates.
        std::mem::forget(p);
        let err = err.unwrap_err();
        assert_eq!(err.reply_code(), Some(406), "{err}");
        assert!(err.text().contains("nested deeper than 64"), "{err}");
    }

    /// The durable log reads tables 64 levels deep and no deeper: publishes stop there.
    #[test]
    fn headers_nest_at_most_64_levels() {
        let nested = |levels: usize| {
            let mut value = FieldValue::from(FieldTable::new().with("k".repeat(256), 1u8));
            // The headers table is level 1, `value`'s table level 2.
            for _ in 2..levels {
                value = FieldValue::Array(vec![value]);
            }
            BasicProperties::default().with_headers(FieldTable::new().with("v", value))
        };
        // At 64 levels the check reaches the over-long name inside.
        assert_eq!(nested(64).check().unwrap_err().kind(), ErrorKind::TooLong);
        assert_eq!(nested(65).check().unwrap_err().reply_code(), Some(406));
    }
}
