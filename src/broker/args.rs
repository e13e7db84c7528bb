//! Declare and consume arguments: parsing, checking and redeclare comparison.
//!
//! Queue arguments (SEMANTICS Q2, Q8, A9, D6, L1, L4–L7, X1), consume arguments (SEMANTICS A9,
//! D5) and exchange arguments (SEMANTICS E7, E10) arrive as [`FieldTable`]s. Each `parse`
//! checks the arguments warren defines, keeps the table as given, and refuses what warren
//! cannot honour yet, so a program never silently loses a feature it asked for.
//!
//! # Invariants
//!
//! * **Integers are values, not encodings.** Any integer width is accepted where an integer is
//!   expected (a `U64` only up to `i64::MAX`), and two widths holding one value are equal in
//!   a redeclare (SEMANTICS Q2). Strings, floats, decimals, timestamps and booleans are not
//!   integers; a boolean argument (`x-single-active-consumer`) must be a boolean.
//! * **Only defined arguments are compared, as declared.** `equivalent` looks at the parsed
//!   values of the arguments SEMANTICS defines, plus `x-delivery-limit`; every other argument is
//!   kept in `raw` (the whole table as declared), uncompared (SEMANTICS Q2, E10). Like RabbitMQ,
//!   which compares the declared tables with no defaults filled in, an argument given on one
//!   side only differs even when its value is the default (`x-overflow` = `drop-head`,
//!   `x-single-active-consumer` = `false`, `x-delivery-limit` = `-1`); the one exception is a
//!   missing `x-queue-type`, which is `classic`. Presence is read from `raw`; the typed fields
//!   hold the effective values.
//! * **Errors are 406** `PRECONDITION_FAILED`, with RabbitMQ's `invalid arg '<name>' for queue
//!   '<queue>'` shape, naming the argument, why, and the value given (SEMANTICS F3).
//!
//! # Limits
//!
//! Streams are not built, so their arguments are refused with 406 naming them (SEMANTICS Q8),
//! rather than accepted and ignored: the queue argument `x-max-age` (stream retention) and the
//! consume arguments `x-stream-offset`, `x-stream-filter` and `x-stream-match-unfiltered`.
//! Accepting them would change what a consumer receives without telling it. `x-queue-mode` is
//! kept, uncompared: RabbitMQ 4 ignores it. This module only parses: the features the
//! arguments ask for (expiry, limits, dead-lettering, priorities, single active consumer,
//! delivery limits) are enforced by the queue and dispatch layers.

use std::fmt::Display;
use std::ops::RangeInclusive;

use super::properties::{check_table, MAX_TTL_MS};
use crate::error::Error;
use crate::message::{FieldTable, FieldValue};
use crate::topic::MAX_LEN;

/// The consume and queue argument for the consumer timeout, in ms (SEMANTICS A9).
const CONSUMER_TIMEOUT: &str = "x-consumer-timeout";
/// The queue argument naming the dead-letter exchange (SEMANTICS X1).
const DEAD_LETTER_EXCHANGE: &str = "x-dead-letter-exchange";
/// The queue argument replacing the routing keys of dead-lettered messages (SEMANTICS X1, X3).
const DEAD_LETTER_ROUTING_KEY: &str = "x-dead-letter-routing-key";
/// The queue argument limiting deliveries per message; `-1` is no limit, as in RabbitMQ 4.
const DELIVERY_LIMIT: &str = "x-delivery-limit";
/// The queue argument deleting the queue after it was unused that long, in ms (SEMANTICS L4).
const EXPIRES: &str = "x-expires";
/// The queue argument limiting ready messages (SEMANTICS L5).
const MAX_LENGTH: &str = "x-max-length";
/// The queue argument limiting the body bytes of ready messages (SEMANTICS L5).
const MAX_LENGTH_BYTES: &str = "x-max-length-bytes";
/// The queue argument giving the highest message priority (SEMANTICS L7).
const MAX_PRIORITY: &str = "x-max-priority";
/// The queue argument giving the message TTL, in ms (SEMANTICS L1).
const MESSAGE_TTL: &str = "x-message-ttl";
/// The queue argument choosing what a length limit does (SEMANTICS L6).
const OVERFLOW: &str = "x-overflow";
/// The queue argument choosing the queue type (SEMANTICS Q8).
const QUEUE_TYPE: &str = "x-queue-type";
/// The queue argument letting only one consumer receive (SEMANTICS D6).
const SINGLE_ACTIVE_CONSUMER: &str = "x-single-active-consumer";
/// The consume argument giving the consumer's priority (SEMANTICS D5).
const CONSUMER_PRIORITY: &str = "x-priority";
/// The exchange argument naming the alternate exchange (SEMANTICS E7).
const ALTERNATE_EXCHANGE: &str = "alternate-exchange";

/// The largest integer an argument can hold: `int_arg` reads integers as `i64`.
const MAX_INT: u64 = i64::MAX.unsigned_abs();

/// Queue arguments of features warren does not have yet (streams): refused with 406
/// (SEMANTICS Q8).
const UNSUPPORTED_QUEUE_ARGS: [&str; 1] = ["x-max-age"];

/// Consume arguments of features warren does not have yet (streams): refused with 406.
const UNSUPPORTED_CONSUME_ARGS: [&str; 3] = [
    "x-stream-filter",
    "x-stream-match-unfiltered",
    "x-stream-offset",
];

/// Any integer field value as an `i64`; `None` for other types (strings included) and for a
/// `U64` above `i64::MAX`.
fn int_arg(value: &FieldValue) -> Option<i64> {
    value.as_i64()
}

/// A 406 `PRECONDITION_FAILED` error with `text` after the prefix.
fn precondition_failed(text: impl Display) -> Error {
    Error::amqp(406, format!("PRECONDITION_FAILED - {text}"))
}

/// A value for messages: its type name and value, e.g. `long string '5'`.
fn describe(value: &FieldValue) -> String {
    format!("{} {value}", value.type_name())
}

/// Parses an integer argument of any width into a `T` within `range`. `Err` holds why not,
/// for the caller's message: `expected <expected>, got <value>`.
fn parse_int<T>(
    value: &FieldValue,
    range: RangeInclusive<T>,
    expected: &dyn Display,
) -> Result<T, String>
where
    T: TryFrom<i64> + PartialOrd,
{
    int_arg(value)
        .and_then(|n| T::try_from(n).ok())
        .filter(|n| range.contains(n))
        .ok_or_else(|| format!("expected {expected}, got {}", describe(value)))
}

/// Parses a consumer timeout value: an integer above 0 (ms). `Err` holds why not, for the
/// caller's message.
fn parse_timeout(value: &FieldValue) -> Result<u64, String> {
    parse_int(value, 1..=MAX_INT, &"an integer above 0 (milliseconds)")
}

/// Parses a TTL or expiry value in ms: an integer from `min` to [`MAX_TTL_MS`] (SEMANTICS L1,
/// L4). `Err` holds why not, for the caller's message.
fn parse_ms(value: &FieldValue, min: u64) -> Result<u64, String> {
    parse_int(
        value,
        min..=MAX_TTL_MS,
        &format_args!("an integer from {min} to {MAX_TTL_MS} (milliseconds)"),
    )
}

/// Parses a length limit: an integer of at least 0, counting `unit` (SEMANTICS L5). `Err`
/// holds why not, for the caller's message.
fn parse_limit(value: &FieldValue, unit: &str) -> Result<u64, String> {
    parse_int(
        value,
        0..=MAX_INT,
        &format_args!("an integer from 0 to {MAX_INT} ({unit})"),
    )
}

/// Parses a delivery limit: `-1` for none, as RabbitMQ 4 writes it, or an integer from 0 to
/// `u32::MAX`. `Err` holds why not, for the caller's message.
fn parse_delivery_limit(value: &FieldValue) -> Result<Option<u32>, String> {
    if int_arg(value) == Some(-1) {
        return Ok(None);
    }
    parse_int(
        value,
        0..=u32::MAX,
        &format_args!("-1 (no limit) or an integer from 0 to {}", u32::MAX),
    )
    .map(Some)
}

/// Parses a short string held in an argument: a long string of valid UTF-8, at most 255 bytes
/// (SEMANTICS N1). `what` names it in messages (`exchange name`, `routing key`). `Err` holds
/// why not, for the caller's message.
fn parse_short_string(value: &FieldValue, what: &str) -> Result<String, String> {
    let bytes = value
        .as_bytes()
        .ok_or_else(|| format!("expected a long string, got {}", describe(value)))?;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "{what} is not valid UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        )
    })?;
    if text.len() > MAX_LEN {
        return Err(format!(
            "{what} too long: {} bytes, at most {MAX_LEN}",
            text.len()
        ));
    }
    Ok(text.to_owned())
}

/// Parses an exchange name held in an argument: a long string of valid UTF-8, at most 255
/// bytes (SEMANTICS N1). `Err` holds why not, for the caller's message.
fn parse_exchange_name(value: &FieldValue) -> Result<String, String> {
    parse_short_string(value, "exchange name")
}

/// The type of a queue (SEMANTICS Q8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum QueueType {
    /// `classic`, the default.
    #[default]
    Classic,
    /// `quorum`: durable, non-exclusive and named; behaves as a durable classic queue in-process
    /// but compares as quorum, so programs stay portable.
    Quorum,
}

/// `x-overflow`: what an enqueue exceeding a length limit does (SEMANTICS L6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum Overflow {
    /// `drop-head`, the default: enqueue, then drop heads until within limits, dead-lettering
    /// them (`maxlen`).
    #[default]
    DropHead,
    /// `reject-publish`: this queue refuses the message; a confirm-mode publisher gets a nack.
    RejectPublish,
    /// `reject-publish-dlx`: like `RejectPublish`, and the message is dead-lettered (`maxlen`).
    RejectPublishDlx,
}

impl Overflow {
    /// Parses an `x-overflow` value: a long string naming a mode. `Err` holds why not, for the
    /// caller's message.
    fn parse(value: &FieldValue) -> Result<Overflow, String> {
        match value.as_bytes() {
            Some(b"drop-head") => Ok(Overflow::DropHead),
            Some(b"reject-publish") => Ok(Overflow::RejectPublish),
            Some(b"reject-publish-dlx") => Ok(Overflow::RejectPublishDlx),
            Some(_) => Err(format!(
                "unsupported overflow mode {value}, expected 'drop-head', 'reject-publish' or \
                 'reject-publish-dlx'"
            )),
            None => Err(format!("expected a long string, got {}", describe(value))),
        }
    }
}

/// The parsed arguments of a queue declare (SEMANTICS Q2, Q8, A9, D6, L1, L4–L7, X1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueArgs {
    /// `x-queue-type`, `classic` when absent.
    pub(crate) queue_type: QueueType,
    /// `x-consumer-timeout` in ms, when given (SEMANTICS A9).
    pub(crate) consumer_timeout_ms: Option<u64>,
    /// `x-message-ttl` in ms, 0 to [`MAX_TTL_MS`], when given (SEMANTICS L1).
    pub(crate) message_ttl_ms: Option<u64>,
    /// `x-expires` in ms, 1 to [`MAX_TTL_MS`], when given (SEMANTICS L4).
    pub(crate) expires_ms: Option<u64>,
    /// `x-max-length`: the most ready messages, when given (SEMANTICS L5).
    pub(crate) max_length: Option<u64>,
    /// `x-max-length-bytes`: the most body bytes of ready messages, when given (SEMANTICS L5).
    pub(crate) max_length_bytes: Option<u64>,
    /// `x-overflow`, the effective mode: `drop-head` when absent (SEMANTICS L6). Whether it was
    /// given, which a redeclare compares, is in `raw`.
    pub(crate) overflow: Overflow,
    /// `x-dead-letter-exchange`, when given; `""` (the default exchange) allowed, and it need
    /// not exist yet (SEMANTICS X1).
    pub(crate) dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`, when given; only with `dead_letter_exchange` (SEMANTICS X1,
    /// X3).
    pub(crate) dead_letter_routing_key: Option<String>,
    /// `x-max-priority`, when given (SEMANTICS L7); see [`priority_levels`](Self::priority_levels).
    pub(crate) max_priority: Option<u8>,
    /// `x-single-active-consumer`, `false` when absent (SEMANTICS D6). Whether it was given,
    /// which a redeclare compares, is in `raw`.
    pub(crate) single_active_consumer: bool,
    /// `x-delivery-limit`: deliveries per message before it is dead-lettered; `None` when
    /// absent or `-1` (RabbitMQ 4's "no limit"). Whether it was given, which a redeclare
    /// compares, is in `raw`.
    pub(crate) delivery_limit: Option<u32>,
    /// The whole table as declared, recognised arguments included: listed back to users,
    /// reported in inequivalence messages, and where a redeclare reads which arguments were
    /// given; only the fields above are compared.
    pub(crate) raw: FieldTable,
}

impl QueueArgs {
    /// Parses and checks the arguments of a declare of `queue` with the given flags
    /// (`server_named`: the name was generated for an empty one, SEMANTICS Q6).
    ///
    /// Checks run in this order: `x-queue-type`'s value, then the arguments in name order
    /// (the first invalid one is reported), then the quorum flag rules.
    ///
    /// # Errors
    ///
    /// 406 `PRECONDITION_FAILED` naming the argument (or the property, for quorum rules) for:
    /// an `x-queue-type` that is not a long string `classic` or `quorum` (SEMANTICS Q8); a
    /// stream argument (`x-max-age`); an `x-consumer-timeout` that is not an integer above 0
    /// (SEMANTICS A9); an `x-message-ttl` outside 0 to [`MAX_TTL_MS`] (SEMANTICS L1); an
    /// `x-expires` outside 1 to [`MAX_TTL_MS`] (SEMANTICS L4); a negative `x-max-length` or
    /// `x-max-length-bytes` (SEMANTICS L5); an `x-overflow` that is not a long string naming a
    /// mode (SEMANTICS L6); an `x-max-priority` outside 0 to 255 (SEMANTICS L7); an
    /// `x-dead-letter-exchange` or `x-dead-letter-routing-key` that is not a long string of
    /// valid UTF-8 of at most 255 bytes, or a routing key without an exchange (SEMANTICS X1);
    /// an `x-single-active-consumer` that is not a boolean (SEMANTICS D6); an
    /// `x-delivery-limit` that is neither -1 nor an integer from 0 to `u32::MAX`; an integer
    /// argument given as another type; a quorum queue that is not durable, is exclusive or is
    /// server-named (SEMANTICS Q8).
    pub(crate) fn parse(
        queue: &str,
        args: &FieldTable,
        durable: bool,
        exclusive: bool,
        server_named: bool,
    ) -> Result<QueueArgs, Error> {
        check_table(args)?;
        let invalid = |name: &str, why: &dyn Display| {
            precondition_failed(format_args!(
                "invalid arg '{name}' for queue '{queue}': {why}"
            ))
        };
        let queue_type = match args.get(QUEUE_TYPE) {
            None => QueueType::Classic,
            Some(value) => match value.as_bytes() {
                Some(b"classic") => QueueType::Classic,
                Some(b"quorum") => QueueType::Quorum,
                Some(_) => {
                    return Err(invalid(
                        QUEUE_TYPE,
                        &format_args!(
                            "unsupported queue type {value}, expected 'classic' or 'quorum'"
                        ),
                    ))
                }
                None => {
                    return Err(invalid(
                        QUEUE_TYPE,
                        &format_args!("expected a long string, got {}", describe(value)),
                    ))
                }
            },
        };
        let mut parsed = QueueArgs {
            queue_type,
            ..QueueArgs::default()
        };
        for (name, value) in args {
            let bad = |why: String| invalid(name, &why);
            match name {
                CONSUMER_TIMEOUT => {
                    parsed.consumer_timeout_ms = Some(parse_timeout(value).map_err(bad)?);
                }
                DEAD_LETTER_EXCHANGE => {
                    parsed.dead_letter_exchange = Some(parse_exchange_name(value).map_err(bad)?);
                }
                DEAD_LETTER_ROUTING_KEY => {
                    let key = parse_short_string(value, "routing key").map_err(bad)?;
                    if !args.contains_key(DEAD_LETTER_EXCHANGE) {
                        return Err(bad(format!(
                            "{} given without '{DEAD_LETTER_EXCHANGE}'",
                            describe(value)
                        )));
                    }
                    parsed.dead_letter_routing_key = Some(key);
                }
                DELIVERY_LIMIT => {
                    parsed.delivery_limit = parse_delivery_limit(value).map_err(bad)?;
                }
                EXPIRES => parsed.expires_ms = Some(parse_ms(value, 1).map_err(bad)?),
                MAX_LENGTH => {
                    parsed.max_length = Some(parse_limit(value, "messages").map_err(bad)?);
                }
                MAX_LENGTH_BYTES => {
                    parsed.max_length_bytes = Some(parse_limit(value, "bytes").map_err(bad)?);
                }
                MAX_PRIORITY => {
                    let max = parse_int(value, 0..=u8::MAX, &"an integer from 0 to 255");
                    parsed.max_priority = Some(max.map_err(bad)?);
                }
                MESSAGE_TTL => parsed.message_ttl_ms = Some(parse_ms(value, 0).map_err(bad)?),
                OVERFLOW => parsed.overflow = Overflow::parse(value).map_err(bad)?,
                SINGLE_ACTIVE_CONSUMER => {
                    parsed.single_active_consumer = value
                        .as_bool()
                        .ok_or_else(|| format!("expected a boolean, got {}", describe(value)))
                        .map_err(bad)?;
                }
                _ if UNSUPPORTED_QUEUE_ARGS.contains(&name) => {
                    return Err(bad("not supported by this version of warren".to_owned()));
                }
                _ => {}
            }
        }
        if queue_type == QueueType::Quorum {
            // RabbitMQ's texts: "invalid property 'non-durable' for queue ...", likewise
            // 'exclusive-property'; warren adds the rule.
            let refused = if !durable {
                Some(("non-durable", "quorum queues must be durable"))
            } else if exclusive {
                Some(("exclusive-property", "quorum queues cannot be exclusive"))
            } else if server_named {
                Some((
                    "server-named",
                    "quorum queues cannot have a server-named name",
                ))
            } else {
                None
            };
            if let Some((property, why)) = refused {
                return Err(precondition_failed(format_args!(
                    "invalid property '{property}' for queue '{queue}': {why}"
                )));
            }
        }
        parsed.raw = args.clone();
        Ok(parsed)
    }

    /// The number of priority levels messages of this queue sort into (SEMANTICS L7): 1 (no
    /// reordering) without `x-max-priority` or with 0, else `x-max-priority` + 1 (levels 0 to
    /// the maximum).
    pub(crate) fn priority_levels(&self) -> usize {
        self.max_priority.map_or(1, |max| usize::from(max) + 1)
    }

    /// Whether a redeclare with `other` matches these arguments (SEMANTICS Q2): the parsed
    /// `x-consumer-timeout`, `x-dead-letter-exchange`, `x-dead-letter-routing-key`,
    /// `x-delivery-limit`, `x-expires`, `x-max-length`, `x-max-length-bytes`, `x-max-priority`,
    /// `x-message-ttl`, `x-overflow`, `x-queue-type` and `x-single-active-consumer`. Each must
    /// be given on both sides or on neither (in `raw`), even with its default value, and
    /// integers compare by value, whatever their width; the exception is `x-queue-type`,
    /// missing = `classic`. Other arguments are not compared.
    ///
    /// # Errors
    ///
    /// The name of the first differing argument, in name order, for the caller's
    /// `inequivalent arg` message (the values are in each side's `raw`).
    pub(crate) fn equivalent(&self, other: &QueueArgs) -> Result<(), String> {
        // In name order, each with whether the effective values are equal.
        let compared = [
            (
                CONSUMER_TIMEOUT,
                self.consumer_timeout_ms == other.consumer_timeout_ms,
            ),
            (
                DEAD_LETTER_EXCHANGE,
                self.dead_letter_exchange == other.dead_letter_exchange,
            ),
            (
                DEAD_LETTER_ROUTING_KEY,
                self.dead_letter_routing_key == other.dead_letter_routing_key,
            ),
            (DELIVERY_LIMIT, self.delivery_limit == other.delivery_limit),
            (EXPIRES, self.expires_ms == other.expires_ms),
            (MAX_LENGTH, self.max_length == other.max_length),
            (
                MAX_LENGTH_BYTES,
                self.max_length_bytes == other.max_length_bytes,
            ),
            (MAX_PRIORITY, self.max_priority == other.max_priority),
            (MESSAGE_TTL, self.message_ttl_ms == other.message_ttl_ms),
            (OVERFLOW, self.overflow == other.overflow),
            (QUEUE_TYPE, self.queue_type == other.queue_type),
            (
                SINGLE_ACTIVE_CONSUMER,
                self.single_active_consumer == other.single_active_consumer,
            ),
        ];
        let given_on_one_side =
            |name: &str| self.raw.contains_key(name) != other.raw.contains_key(name);
        match compared
            .into_iter()
            .find(|&(name, equal)| !equal || (name != QUEUE_TYPE && given_on_one_side(name)))
        {
            Some((name, _)) => Err(name.to_owned()),
            None => Ok(()),
        }
    }
}

/// The parsed arguments of a consume (SEMANTICS A9, D5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConsumeArgs {
    /// `x-consumer-timeout` in ms, when given; it overrides the queue's (SEMANTICS A9).
    pub(crate) consumer_timeout_ms: Option<u64>,
    /// `x-priority`: higher-priority consumers with credit get messages first; 0 when absent,
    /// negatives allowed (SEMANTICS D5).
    pub(crate) priority: i32,
}

impl ConsumeArgs {
    /// Parses and checks consume arguments; arguments warren does not define are ignored, as
    /// RabbitMQ ignores them.
    ///
    /// # Errors
    ///
    /// 406 `PRECONDITION_FAILED` naming the argument, for an `x-consumer-timeout` that is not an
    /// integer above 0 (SEMANTICS A9), an `x-priority` that is not an integer in the `i32`
    /// range (SEMANTICS D5), or a stream argument (`x-stream-offset`, `x-stream-filter`,
    /// `x-stream-match-unfiltered`): streams are not built.
    pub(crate) fn parse(args: &FieldTable) -> Result<ConsumeArgs, Error> {
        let invalid = |name: &str, why: &dyn Display| {
            precondition_failed(format_args!("invalid consume arg '{name}': {why}"))
        };
        let mut parsed = ConsumeArgs::default();
        for (name, value) in args {
            let bad = |why: String| invalid(name, &why);
            match name {
                CONSUMER_TIMEOUT => {
                    parsed.consumer_timeout_ms = Some(parse_timeout(value).map_err(bad)?);
                }
                CONSUMER_PRIORITY => {
                    let priority = parse_int(
                        value,
                        i32::MIN..=i32::MAX,
                        &format_args!("an integer from {} to {}", i32::MIN, i32::MAX),
                    );
                    parsed.priority = priority.map_err(bad)?;
                }
                _ if UNSUPPORTED_CONSUME_ARGS.contains(&name) => {
                    return Err(bad("not supported by this version of warren".to_owned()));
                }
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// The parsed arguments of an exchange declare (SEMANTICS E7, E10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExchangeArgs {
    /// `alternate-exchange`: where messages matching no binding go (SEMANTICS E7). It need not
    /// exist; a missing alternate is skipped when routing.
    pub(crate) alternate: Option<String>,
    /// The whole table as declared; only `alternate` is compared.
    pub(crate) raw: FieldTable,
}

impl ExchangeArgs {
    /// Parses and checks the arguments of a declare of `exchange`.
    ///
    /// # Errors
    ///
    /// 406 `PRECONDITION_FAILED` naming `alternate-exchange` when it is not a long string, not
    /// valid UTF-8 or longer than 255 bytes.
    pub(crate) fn parse(exchange: &str, args: &FieldTable) -> Result<ExchangeArgs, Error> {
        check_table(args)?;
        let alternate = args
            .get(ALTERNATE_EXCHANGE)
            .map(|value| {
                parse_exchange_name(value).map_err(|why| {
                    precondition_failed(format_args!(
                        "invalid arg '{ALTERNATE_EXCHANGE}' for exchange '{exchange}': {why}"
                    ))
                })
            })
            .transpose()?;
        Ok(ExchangeArgs {
            alternate,
            raw: args.clone(),
        })
    }

    /// Whether a redeclare with `other` matches (SEMANTICS E10): only `alternate-exchange` is
    /// compared, absent on one side only differing.
    ///
    /// # Errors
    ///
    /// `"alternate-exchange"`, the differing argument's name.
    pub(crate) fn equivalent(&self, other: &ExchangeArgs) -> Result<(), String> {
        if self.alternate != other.alternate {
            return Err(ALTERNATE_EXCHANGE.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Scope;

    fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
        entries.iter().cloned().collect()
    }

    /// A plain durable, named declare of `jobs`.
    fn declare(args: &FieldTable) -> Result<QueueArgs, Error> {
        QueueArgs::parse("jobs", args, true, false, false)
    }

    /// Asserts a 406 channel error whose text is `text` after the code.
    fn assert_406(err: &Error, text: &str) {
        assert_eq!(err.reply_code(), Some(406), "{err}");
        assert_eq!(err.scope(), Scope::Channel);
        assert_eq!(err.to_string(), format!("406 PRECONDITION_FAILED - {text}"));
    }

    /// Asserts that declaring `jobs` with `name` = `value` (and a dead-letter exchange, for a
    /// dead-letter routing key) fails with 406 `why`.
    fn assert_invalid(name: &str, value: FieldValue, why: &str) {
        let mut args = base_for(name);
        args.insert(name, value);
        let err = declare(&args).unwrap_err();
        assert_406(
            &err,
            &format!("invalid arg '{name}' for queue 'jobs': {why}"),
        );
    }

    /// `name` = `value` parsed, with a dead-letter exchange for a dead-letter routing key.
    fn declare_one(name: &str, value: FieldValue) -> QueueArgs {
        let mut args = base_for(name);
        args.insert(name, value);
        declare(&args).unwrap()
    }

    /// What a declare with `name` needs besides it: a dead-letter exchange for a dead-letter
    /// routing key (SEMANTICS X1), else nothing.
    fn base_for(name: &str) -> FieldTable {
        if name == DEAD_LETTER_ROUTING_KEY {
            table(&[(DEAD_LETTER_EXCHANGE, "dlx".into())])
        } else {
            FieldTable::new()
        }
    }

    /// Every queue argument `equivalent` compares but `x-queue-type`, in name order, each with
    /// two valid values that differ.
    fn compared_args() -> [(&'static str, FieldValue, FieldValue); 11] {
        [
            (CONSUMER_TIMEOUT, FieldValue::I32(5), FieldValue::I32(6)),
            (DEAD_LETTER_EXCHANGE, "dlx".into(), "".into()),
            (DEAD_LETTER_ROUTING_KEY, "dead".into(), "".into()),
            (DELIVERY_LIMIT, FieldValue::I8(3), FieldValue::I8(-1)),
            (EXPIRES, FieldValue::U16(1_000), FieldValue::U16(2_000)),
            (MAX_LENGTH, FieldValue::U8(0), FieldValue::U8(10)),
            (MAX_LENGTH_BYTES, FieldValue::I64(0), FieldValue::I64(1_024)),
            (MAX_PRIORITY, FieldValue::U8(0), FieldValue::U8(10)),
            (MESSAGE_TTL, FieldValue::I32(0), FieldValue::I32(60_000)),
            (OVERFLOW, "drop-head".into(), "reject-publish".into()),
            (
                SINGLE_ACTIVE_CONSUMER,
                FieldValue::Bool(false),
                FieldValue::Bool(true),
            ),
        ]
    }

    /// Values that are not integers, for the integer arguments.
    fn non_integers() -> [FieldValue; 7] {
        [
            FieldValue::from("5"),
            FieldValue::F32(5.0),
            FieldValue::F64(5.0),
            FieldValue::Decimal { scale: 0, value: 5 },
            FieldValue::Timestamp(5),
            FieldValue::Bool(true),
            FieldValue::Void,
        ]
    }

    #[test]
    fn int_arg_accepts_every_integer_width() {
        assert_eq!(int_arg(&FieldValue::I8(-3)), Some(-3));
        assert_eq!(int_arg(&FieldValue::U8(200)), Some(200));
        assert_eq!(int_arg(&FieldValue::I16(-300)), Some(-300));
        assert_eq!(int_arg(&FieldValue::U16(60_000)), Some(60_000));
        assert_eq!(int_arg(&FieldValue::I32(-70_000)), Some(-70_000));
        assert_eq!(
            int_arg(&FieldValue::U32(4_000_000_000)),
            Some(4_000_000_000)
        );
        assert_eq!(int_arg(&FieldValue::I64(i64::MIN)), Some(i64::MIN));
        assert_eq!(
            int_arg(&FieldValue::U64(u64::try_from(i64::MAX).unwrap())),
            Some(i64::MAX)
        );
        assert_eq!(int_arg(&FieldValue::U64(u64::MAX)), None);
    }

    #[test]
    fn int_arg_refuses_non_integers() {
        for value in [
            FieldValue::from("5"),
            FieldValue::F32(5.0),
            FieldValue::F64(5.0),
            FieldValue::Decimal { scale: 0, value: 5 },
            FieldValue::Timestamp(5),
            FieldValue::Bool(true),
            FieldValue::ByteArray(b"5".to_vec()),
            FieldValue::Void,
        ] {
            assert_eq!(int_arg(&value), None, "{value:?}");
        }
    }

    #[test]
    fn q2_no_args_parse_to_defaults() {
        let args = declare(&FieldTable::new()).unwrap();
        assert_eq!(args.queue_type, QueueType::Classic);
        assert_eq!(args.consumer_timeout_ms, None);
        assert_eq!(args.message_ttl_ms, None);
        assert_eq!(args.expires_ms, None);
        assert_eq!(args.max_length, None);
        assert_eq!(args.max_length_bytes, None);
        assert_eq!(args.overflow, Overflow::DropHead);
        assert_eq!(args.dead_letter_exchange, None);
        assert_eq!(args.dead_letter_routing_key, None);
        assert_eq!(args.max_priority, None);
        assert!(!args.single_active_consumer);
        assert_eq!(args.delivery_limit, None);
        assert_eq!(args.priority_levels(), 1);
        assert!(args.raw.is_empty());
        assert_eq!(args, QueueArgs::default());
    }

    #[test]
    fn q8_classic_and_quorum_accepted() {
        let classic = declare(&table(&[(QUEUE_TYPE, "classic".into())])).unwrap();
        assert_eq!(classic.queue_type, QueueType::Classic);
        let quorum = declare(&table(&[(QUEUE_TYPE, "quorum".into())])).unwrap();
        assert_eq!(quorum.queue_type, QueueType::Quorum);
        // Classic queues may be transient, exclusive and server-named (SEMANTICS Q7).
        let c = table(&[(QUEUE_TYPE, "classic".into())]);
        QueueArgs::parse("amq.gen-x", &c, false, true, true).unwrap();
    }

    #[test]
    fn q8_stream_refused() {
        let err = declare(&table(&[(QUEUE_TYPE, "stream".into())])).unwrap_err();
        assert_406(
            &err,
            "invalid arg 'x-queue-type' for queue 'jobs': unsupported queue type 'stream', \
             expected 'classic' or 'quorum'",
        );
    }

    #[test]
    fn q8_unknown_queue_types_refused() {
        for name in ["", "Classic", "QUORUM", "lazy", "classic "] {
            let err = declare(&table(&[(QUEUE_TYPE, name.into())])).unwrap_err();
            assert_eq!(err.reply_code(), Some(406), "{name:?}");
            assert!(err.to_string().contains("'x-queue-type'"), "{err}");
        }
    }

    #[test]
    fn q8_queue_type_of_wrong_type_refused() {
        let err = declare(&table(&[(QUEUE_TYPE, FieldValue::I32(1))])).unwrap_err();
        assert_406(
            &err,
            "invalid arg 'x-queue-type' for queue 'jobs': expected a long string, got signed \
             32-bit integer 1",
        );
        let bytes = FieldValue::ByteArray(b"quorum".to_vec());
        let err = declare(&table(&[(QUEUE_TYPE, bytes)])).unwrap_err();
        assert_eq!(err.reply_code(), Some(406));
    }

    #[test]
    fn q8_quorum_must_be_durable() {
        let q = table(&[(QUEUE_TYPE, "quorum".into())]);
        let err = QueueArgs::parse("jobs", &q, false, false, false).unwrap_err();
        assert_406(
            &err,
            "invalid property 'non-durable' for queue 'jobs': quorum queues must be durable",
        );
    }

    #[test]
    fn q8_quorum_must_not_be_exclusive() {
        let q = table(&[(QUEUE_TYPE, "quorum".into())]);
        let err = QueueArgs::parse("jobs", &q, true, true, false).unwrap_err();
        assert_406(
            &err,
            "invalid property 'exclusive-property' for queue 'jobs': quorum queues cannot be \
             exclusive",
        );
    }

    #[test]
    fn q8_quorum_must_not_be_server_named() {
        let q = table(&[(QUEUE_TYPE, "quorum".into())]);
        let err = QueueArgs::parse("amq.gen-abc", &q, true, false, true).unwrap_err();
        assert_eq!(err.reply_code(), Some(406));
        assert!(err.to_string().contains("'server-named'"), "{err}");
    }

    #[test]
    fn q8_unsupported_queue_args_refused_by_name() {
        for name in UNSUPPORTED_QUEUE_ARGS {
            for queue_type in ["classic", "quorum"] {
                let args = table(&[(name, FieldValue::I32(1)), (QUEUE_TYPE, queue_type.into())]);
                let err = declare(&args).unwrap_err();
                assert_406(
                    &err,
                    &format!(
                        "invalid arg '{name}' for queue 'jobs': not supported by this version \
                         of warren"
                    ),
                );
            }
        }
    }

    #[test]
    fn q8_max_age_refused_streams_not_built() {
        for value in [FieldValue::from("7D"), FieldValue::I64(3_600)] {
            for queue_type in ["classic", "quorum"] {
                let args = table(&[
                    (QUEUE_TYPE, queue_type.into()),
                    ("x-max-age", value.clone()),
                ]);
                assert_406(
                    &declare(&args).unwrap_err(),
                    "invalid arg 'x-max-age' for queue 'jobs': not supported by this version of \
                     warren",
                );
            }
        }
    }

    #[test]
    fn q2_other_args_kept_uncompared() {
        let a = table(&[
            ("x-queue-mode", "lazy".into()),
            ("x-custom", FieldValue::I8(1)),
        ]);
        let b = table(&[("x-custom", FieldValue::I8(2))]);
        let pa = declare(&a).unwrap();
        let pb = declare(&b).unwrap();
        assert_eq!(pa.raw, a);
        assert_eq!(pb.raw, b);
        assert_eq!(pa.equivalent(&pb), Ok(()));
    }

    #[test]
    fn q2_raw_keeps_recognised_args() {
        let a = table(&[
            (QUEUE_TYPE, "quorum".into()),
            (CONSUMER_TIMEOUT, FieldValue::U16(5_000)),
        ]);
        assert_eq!(declare(&a).unwrap().raw, a);
    }

    #[test]
    fn q2_every_defined_arg_parsed_together() {
        let a = table(&[
            (QUEUE_TYPE, "quorum".into()),
            (CONSUMER_TIMEOUT, FieldValue::U16(5_000)),
            (DEAD_LETTER_EXCHANGE, "dlx".into()),
            (DEAD_LETTER_ROUTING_KEY, "jobs.dead".into()),
            (DELIVERY_LIMIT, FieldValue::I16(20)),
            (EXPIRES, FieldValue::U32(600_000)),
            (MAX_LENGTH, FieldValue::I32(1_000)),
            (MAX_LENGTH_BYTES, FieldValue::I64(1 << 20)),
            (MAX_PRIORITY, FieldValue::U8(9)),
            (MESSAGE_TTL, FieldValue::I32(60_000)),
            (OVERFLOW, "reject-publish-dlx".into()),
            (SINGLE_ACTIVE_CONSUMER, FieldValue::Bool(true)),
            ("x-queue-mode", "lazy".into()),
        ]);
        let parsed = declare(&a).unwrap();
        let expected = QueueArgs {
            queue_type: QueueType::Quorum,
            consumer_timeout_ms: Some(5_000),
            message_ttl_ms: Some(60_000),
            expires_ms: Some(600_000),
            max_length: Some(1_000),
            max_length_bytes: Some(1 << 20),
            overflow: Overflow::RejectPublishDlx,
            dead_letter_exchange: Some("dlx".to_owned()),
            dead_letter_routing_key: Some("jobs.dead".to_owned()),
            max_priority: Some(9),
            single_active_consumer: true,
            delivery_limit: Some(20),
            raw: a,
        };
        assert_eq!(parsed, expected);
        assert_eq!(parsed.priority_levels(), 10);
    }

    #[test]
    fn q2_invalid_args_reported_in_check_order() {
        // x-queue-type first, then the others in name order.
        let args = table(&[
            (CONSUMER_TIMEOUT, FieldValue::I8(0)),
            (QUEUE_TYPE, "stream".into()),
        ]);
        assert!(declare(&args)
            .unwrap_err()
            .to_string()
            .contains("'x-queue-type'"));
        let args = table(&[
            (MESSAGE_TTL, "x".into()),
            (EXPIRES, FieldValue::I8(0)),
            (OVERFLOW, "nope".into()),
        ]);
        assert!(declare(&args)
            .unwrap_err()
            .to_string()
            .contains("'x-expires'"));
        // An invalid exchange is reported before the key that needs it.
        let args = table(&[
            (DEAD_LETTER_EXCHANGE, FieldValue::I8(1)),
            (DEAD_LETTER_ROUTING_KEY, "k".into()),
        ]);
        let err = declare(&args).unwrap_err();
        assert!(
            err.to_string().contains("'x-dead-letter-exchange'"),
            "{err}"
        );
    }

    #[test]
    fn a9_queue_consumer_timeout_parsed() {
        let args = declare(&table(&[(CONSUMER_TIMEOUT, FieldValue::U32(60_000))])).unwrap();
        assert_eq!(args.consumer_timeout_ms, Some(60_000));
        let args = declare(&table(&[(CONSUMER_TIMEOUT, FieldValue::I8(1))])).unwrap();
        assert_eq!(args.consumer_timeout_ms, Some(1));
        let max = FieldValue::I64(i64::MAX);
        let args = declare(&table(&[(CONSUMER_TIMEOUT, max)])).unwrap();
        assert_eq!(
            args.consumer_timeout_ms,
            Some(u64::try_from(i64::MAX).unwrap())
        );
    }

    #[test]
    fn a9_queue_consumer_timeout_must_be_positive_integer() {
        for value in [
            FieldValue::I32(0),
            FieldValue::I32(-1),
            FieldValue::I64(i64::MIN),
            FieldValue::U64(u64::MAX),
            FieldValue::from("60000"),
            FieldValue::F64(60_000.0),
            FieldValue::Void,
        ] {
            let err = declare(&table(&[(CONSUMER_TIMEOUT, value.clone())])).unwrap_err();
            assert_406(
                &err,
                &format!(
                    "invalid arg 'x-consumer-timeout' for queue 'jobs': expected an integer \
                     above 0 (milliseconds), got {} {value}",
                    value.type_name()
                ),
            );
        }
    }

    #[test]
    fn q2_missing_queue_type_is_classic() {
        let missing = declare(&FieldTable::new()).unwrap();
        let classic = declare(&table(&[(QUEUE_TYPE, "classic".into())])).unwrap();
        let quorum = declare(&table(&[(QUEUE_TYPE, "quorum".into())])).unwrap();
        assert_eq!(missing.equivalent(&classic), Ok(()));
        assert_eq!(classic.equivalent(&missing), Ok(()));
        assert_eq!(missing.equivalent(&quorum), Err(QUEUE_TYPE.to_owned()));
        assert_eq!(quorum.equivalent(&classic), Err(QUEUE_TYPE.to_owned()));
        assert_eq!(quorum.equivalent(&quorum.clone()), Ok(()));
    }

    #[test]
    fn q2_integer_widths_compare_by_value() {
        let widths = [
            FieldValue::U8(100),
            FieldValue::I8(100),
            FieldValue::U16(100),
            FieldValue::I16(100),
            FieldValue::U32(100),
            FieldValue::I32(100),
            FieldValue::U64(100),
            FieldValue::I64(100),
        ];
        for name in [
            CONSUMER_TIMEOUT,
            DELIVERY_LIMIT,
            EXPIRES,
            MAX_LENGTH,
            MAX_LENGTH_BYTES,
            MAX_PRIORITY,
            MESSAGE_TTL,
        ] {
            let parsed: Vec<QueueArgs> = widths
                .iter()
                .map(|v| declare(&table(&[(name, v.clone())])).unwrap())
                .collect();
            for a in &parsed {
                for b in &parsed {
                    assert_eq!(a.equivalent(b), Ok(()), "{:?} vs {:?}", a.raw, b.raw);
                }
            }
            let other = declare(&table(&[(name, FieldValue::I32(101))])).unwrap();
            assert_eq!(parsed[0].equivalent(&other), Err(name.to_owned()));
        }
        // x-delivery-limit's -1 in every signed width.
        let unlimited: Vec<QueueArgs> = [
            FieldValue::I8(-1),
            FieldValue::I16(-1),
            FieldValue::I32(-1),
            FieldValue::I64(-1),
        ]
        .into_iter()
        .map(|v| declare(&table(&[(DELIVERY_LIMIT, v)])).unwrap())
        .collect();
        for a in &unlimited {
            for b in &unlimited {
                assert_eq!(a.equivalent(b), Ok(()), "{:?} vs {:?}", a.raw, b.raw);
            }
        }
    }

    #[test]
    fn q2_presence_on_one_side_only_differs() {
        for (name, value, _) in compared_args() {
            let without = base_for(name);
            let mut with = without.clone();
            with.insert(name, value);
            let (with, without) = (declare(&with).unwrap(), declare(&without).unwrap());
            assert_eq!(with.equivalent(&without), Err(name.to_owned()));
            assert_eq!(without.equivalent(&with), Err(name.to_owned()));
            assert_eq!(with.equivalent(&with.clone()), Ok(()));
        }
    }

    #[test]
    fn q2_absent_differs_from_explicit_default() {
        // RabbitMQ compares the tables as declared, defaults not filled in; only a missing
        // x-queue-type means its default (q2_missing_queue_type_is_classic).
        let absent = declare(&FieldTable::new()).unwrap();
        for (name, default) in [
            (OVERFLOW, FieldValue::from("drop-head")),
            (SINGLE_ACTIVE_CONSUMER, FieldValue::Bool(false)),
            (DELIVERY_LIMIT, FieldValue::I32(-1)),
            (MAX_PRIORITY, FieldValue::U8(0)),
            (DEAD_LETTER_EXCHANGE, FieldValue::from("")),
        ] {
            let given = declare(&table(&[(name, default)])).unwrap();
            assert_eq!(absent.equivalent(&given), Err(name.to_owned()));
            assert_eq!(given.equivalent(&absent), Err(name.to_owned()));
        }
        // The effective values of the first three equal the absent ones.
        let given = declare(&table(&[
            (OVERFLOW, "drop-head".into()),
            (SINGLE_ACTIVE_CONSUMER, FieldValue::Bool(false)),
            (DELIVERY_LIMIT, FieldValue::I32(-1)),
        ]))
        .unwrap();
        assert_eq!(given.overflow, absent.overflow);
        assert_eq!(given.single_active_consumer, absent.single_active_consumer);
        assert_eq!(given.delivery_limit, absent.delivery_limit);
        assert_eq!(given.priority_levels(), absent.priority_levels());
    }

    #[test]
    fn q2_each_difference_reported_by_name() {
        for (name, a, b) in compared_args() {
            let (mut ta, mut tb) = (base_for(name), base_for(name));
            ta.insert(name, a);
            tb.insert(name, b);
            let (pa, pb) = (declare(&ta).unwrap(), declare(&tb).unwrap());
            assert_ne!(pa, pb, "{name}");
            assert_eq!(pa.equivalent(&pb), Err(name.to_owned()));
            assert_eq!(pb.equivalent(&pa), Err(name.to_owned()));
            assert_eq!(pa.equivalent(&declare(&ta).unwrap()), Ok(()));
        }
    }

    #[test]
    fn q2_first_differing_argument_in_name_order() {
        let a = declare(&table(&[
            (QUEUE_TYPE, "quorum".into()),
            (CONSUMER_TIMEOUT, FieldValue::I32(5)),
        ]))
        .unwrap();
        let b = declare(&FieldTable::new()).unwrap();
        assert_eq!(a.equivalent(&b), Err(CONSUMER_TIMEOUT.to_owned()));

        // Every compared argument differs; each reported one is then made equal, so all of
        // them are reported, in name order.
        let mut ta: FieldTable = compared_args()
            .into_iter()
            .map(|(n, v, _)| (n, v))
            .collect();
        let mut tb: FieldTable = compared_args()
            .into_iter()
            .map(|(n, _, v)| (n, v))
            .collect();
        ta.insert(QUEUE_TYPE, "quorum");
        tb.insert(QUEUE_TYPE, "classic");
        let mut reported = Vec::new();
        while let Err(name) = declare(&ta).unwrap().equivalent(&declare(&tb).unwrap()) {
            assert!(reported.len() < 12, "{name} reported again");
            tb.insert(name.as_str(), ta.get(&name).unwrap().clone());
            reported.push(name);
        }
        let names: Vec<&str> = ta.iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 12);
        assert_eq!(reported, names);
    }

    #[test]
    fn a9_consume_timeout_parsed() {
        let args = ConsumeArgs::parse(&table(&[(CONSUMER_TIMEOUT, FieldValue::U8(7))])).unwrap();
        assert_eq!(args.consumer_timeout_ms, Some(7));
        assert_eq!(
            ConsumeArgs::parse(&FieldTable::new()).unwrap(),
            ConsumeArgs::default()
        );
    }

    #[test]
    fn a9_consume_timeout_must_be_positive_integer() {
        for value in [
            FieldValue::I16(0),
            FieldValue::I16(-5),
            FieldValue::from("7"),
        ] {
            let err = ConsumeArgs::parse(&table(&[(CONSUMER_TIMEOUT, value.clone())])).unwrap_err();
            assert_406(
                &err,
                &format!(
                    "invalid consume arg 'x-consumer-timeout': expected an integer above 0 \
                     (milliseconds), got {} {value}",
                    value.type_name()
                ),
            );
        }
    }

    #[test]
    fn q8_stream_consume_args_refused() {
        for name in UNSUPPORTED_CONSUME_ARGS {
            let err = ConsumeArgs::parse(&table(&[(name, FieldValue::I32(1))])).unwrap_err();
            assert_406(
                &err,
                &format!("invalid consume arg '{name}': not supported by this version of warren"),
            );
        }
    }

    #[test]
    fn consume_other_args_ignored() {
        let args = table(&[
            ("x-cancel-on-ha-failover", FieldValue::Bool(true)),
            ("x-custom", "v".into()),
        ]);
        assert_eq!(ConsumeArgs::parse(&args).unwrap(), ConsumeArgs::default());
    }

    /// [`MAX_TTL_MS`] as an `i64`, for `I64` values.
    fn max_ttl_i64() -> i64 {
        i64::try_from(MAX_TTL_MS).unwrap()
    }

    #[test]
    fn l1_message_ttl_bounds() {
        for (value, ms) in [
            (FieldValue::U8(0), 0),
            (FieldValue::I8(0), 0),
            (FieldValue::I16(1_000), 1_000),
            (FieldValue::U32(60_000), 60_000),
            (FieldValue::I64(max_ttl_i64()), MAX_TTL_MS),
            (FieldValue::U64(MAX_TTL_MS), MAX_TTL_MS),
        ] {
            let args = declare_one(MESSAGE_TTL, value);
            assert_eq!(args.message_ttl_ms, Some(ms), "{:?}", args.raw);
        }
    }

    #[test]
    fn l1_message_ttl_invalid() {
        assert_invalid(
            MESSAGE_TTL,
            FieldValue::I8(-1),
            "expected an integer from 0 to 315360000000 (milliseconds), got signed 8-bit \
             integer -1",
        );
        assert_invalid(
            MESSAGE_TTL,
            FieldValue::I64(max_ttl_i64() + 1),
            "expected an integer from 0 to 315360000000 (milliseconds), got signed 64-bit \
             integer 315360000001",
        );
        assert_invalid(
            MESSAGE_TTL,
            FieldValue::from("60000"),
            "expected an integer from 0 to 315360000000 (milliseconds), got long string \
             '60000'",
        );
        for value in non_integers()
            .into_iter()
            .chain([FieldValue::U64(u64::MAX), FieldValue::I64(i64::MIN)])
        {
            let why = format!(
                "expected an integer from 0 to {MAX_TTL_MS} (milliseconds), got {} {value}",
                value.type_name()
            );
            assert_invalid(MESSAGE_TTL, value, &why);
        }
    }

    #[test]
    fn l4_expires_bounds() {
        for (value, ms) in [
            (FieldValue::U8(1), 1),
            (FieldValue::I16(1_000), 1_000),
            (FieldValue::U32(1_800_000), 1_800_000),
            (FieldValue::I64(max_ttl_i64()), MAX_TTL_MS),
            (FieldValue::U64(MAX_TTL_MS), MAX_TTL_MS),
        ] {
            let args = declare_one(EXPIRES, value);
            assert_eq!(args.expires_ms, Some(ms), "{:?}", args.raw);
        }
    }

    #[test]
    fn l4_expires_invalid() {
        assert_invalid(
            EXPIRES,
            FieldValue::U8(0),
            "expected an integer from 1 to 315360000000 (milliseconds), got unsigned 8-bit \
             integer 0",
        );
        assert_invalid(
            EXPIRES,
            FieldValue::U64(MAX_TTL_MS + 1),
            "expected an integer from 1 to 315360000000 (milliseconds), got unsigned 64-bit \
             integer 315360000001",
        );
        for value in non_integers()
            .into_iter()
            .chain([FieldValue::I32(-1), FieldValue::U64(u64::MAX)])
        {
            let why = format!(
                "expected an integer from 1 to {MAX_TTL_MS} (milliseconds), got {} {value}",
                value.type_name()
            );
            assert_invalid(EXPIRES, value, &why);
        }
    }

    #[test]
    fn l5_max_length_bounds() {
        let max = u64::try_from(i64::MAX).unwrap();
        for (value, n) in [
            (FieldValue::U8(0), 0),
            (FieldValue::I8(0), 0),
            (FieldValue::I16(5), 5),
            (FieldValue::U32(u32::MAX), u64::from(u32::MAX)),
            (FieldValue::I64(i64::MAX), max),
            (FieldValue::U64(max), max),
        ] {
            let args = declare_one(MAX_LENGTH, value.clone());
            assert_eq!(args.max_length, Some(n), "{:?}", args.raw);
            let args = declare_one(MAX_LENGTH_BYTES, value);
            assert_eq!(args.max_length_bytes, Some(n), "{:?}", args.raw);
        }
    }

    #[test]
    fn l5_max_length_invalid() {
        assert_invalid(
            MAX_LENGTH,
            FieldValue::I32(-1),
            "expected an integer from 0 to 9223372036854775807 (messages), got signed 32-bit \
             integer -1",
        );
        assert_invalid(
            MAX_LENGTH,
            FieldValue::from("10"),
            "expected an integer from 0 to 9223372036854775807 (messages), got long string \
             '10'",
        );
        for value in non_integers()
            .into_iter()
            .chain([FieldValue::U64(u64::MAX), FieldValue::I64(i64::MIN)])
        {
            let why = format!(
                "expected an integer from 0 to {} (messages), got {} {value}",
                i64::MAX,
                value.type_name()
            );
            assert_invalid(MAX_LENGTH, value, &why);
        }
    }

    #[test]
    fn l5_max_length_bytes_invalid() {
        assert_invalid(
            MAX_LENGTH_BYTES,
            FieldValue::I8(-5),
            "expected an integer from 0 to 9223372036854775807 (bytes), got signed 8-bit \
             integer -5",
        );
        assert_invalid(
            MAX_LENGTH_BYTES,
            FieldValue::U64(u64::MAX),
            "expected an integer from 0 to 9223372036854775807 (bytes), got unsigned 64-bit \
             integer 18446744073709551615",
        );
        for value in non_integers() {
            let why = format!(
                "expected an integer from 0 to {} (bytes), got {} {value}",
                i64::MAX,
                value.type_name()
            );
            assert_invalid(MAX_LENGTH_BYTES, value, &why);
        }
    }

    #[test]
    fn l6_overflow_modes_accepted() {
        assert_eq!(
            declare(&FieldTable::new()).unwrap().overflow,
            Overflow::DropHead
        );
        for (mode, overflow) in [
            ("drop-head", Overflow::DropHead),
            ("reject-publish", Overflow::RejectPublish),
            ("reject-publish-dlx", Overflow::RejectPublishDlx),
        ] {
            assert_eq!(
                declare_one(OVERFLOW, mode.into()).overflow,
                overflow,
                "{mode}"
            );
        }
    }

    #[test]
    fn l6_overflow_unknown_mode_refused() {
        assert_invalid(
            OVERFLOW,
            "reject".into(),
            "unsupported overflow mode 'reject', expected 'drop-head', 'reject-publish' or \
             'reject-publish-dlx'",
        );
        for mode in [
            "",
            "Drop-Head",
            "drop_head",
            "reject-publish-dlx ",
            "REJECT-PUBLISH",
        ] {
            let why = format!(
                "unsupported overflow mode '{mode}', expected 'drop-head', 'reject-publish' or \
                 'reject-publish-dlx'"
            );
            assert_invalid(OVERFLOW, mode.into(), &why);
        }
    }

    #[test]
    fn l6_overflow_of_wrong_type_refused() {
        assert_invalid(
            OVERFLOW,
            FieldValue::I32(1),
            "expected a long string, got signed 32-bit integer 1",
        );
        assert_invalid(
            OVERFLOW,
            FieldValue::ByteArray(b"drop-head".to_vec()),
            "expected a long string, got byte array 'drop-head'",
        );
        assert_invalid(
            OVERFLOW,
            FieldValue::Bool(true),
            "expected a long string, got boolean true",
        );
    }

    #[test]
    fn l7_max_priority_bounds() {
        for (value, max) in [
            (FieldValue::U8(0), 0),
            (FieldValue::I8(1), 1),
            (FieldValue::I32(10), 10),
            (FieldValue::U8(255), 255),
            (FieldValue::I16(255), 255),
            (FieldValue::U64(255), 255),
            (FieldValue::I64(255), 255),
        ] {
            let args = declare_one(MAX_PRIORITY, value);
            assert_eq!(args.max_priority, Some(max), "{:?}", args.raw);
        }
    }

    #[test]
    fn l7_max_priority_above_255_refused() {
        assert_invalid(
            MAX_PRIORITY,
            FieldValue::I16(256),
            "expected an integer from 0 to 255, got signed 16-bit integer 256",
        );
        assert_invalid(
            MAX_PRIORITY,
            FieldValue::I8(-1),
            "expected an integer from 0 to 255, got signed 8-bit integer -1",
        );
        for value in non_integers()
            .into_iter()
            .chain([FieldValue::U64(u64::MAX), FieldValue::U32(1_000)])
        {
            let why = format!(
                "expected an integer from 0 to 255, got {} {value}",
                value.type_name()
            );
            assert_invalid(MAX_PRIORITY, value, &why);
        }
    }

    #[test]
    fn l7_priority_levels() {
        let levels = |value: Option<u8>| {
            let args = match value {
                None => declare(&FieldTable::new()).unwrap(),
                Some(max) => declare_one(MAX_PRIORITY, max.into()),
            };
            args.priority_levels()
        };
        // Absent or 0 reorders nothing: one level.
        assert_eq!(levels(None), 1);
        assert_eq!(levels(Some(0)), 1);
        assert_eq!(levels(Some(1)), 2);
        assert_eq!(levels(Some(10)), 11);
        assert_eq!(levels(Some(255)), 256);
    }

    #[test]
    fn x1_dead_letter_exchange_parsed() {
        // "" is the default exchange; the exchange need not exist yet.
        for name in ["", "dlx", "not.declared.yet", &"a".repeat(255)] {
            let args = declare_one(DEAD_LETTER_EXCHANGE, name.into());
            assert_eq!(args.dead_letter_exchange.as_deref(), Some(name));
            assert_eq!(args.dead_letter_routing_key, None);
        }
    }

    #[test]
    fn x1_dead_letter_exchange_invalid() {
        assert_invalid(
            DEAD_LETTER_EXCHANGE,
            FieldValue::I32(3),
            "expected a long string, got signed 32-bit integer 3",
        );
        assert_invalid(
            DEAD_LETTER_EXCHANGE,
            FieldValue::ByteArray(b"dlx".to_vec()),
            "expected a long string, got byte array 'dlx'",
        );
        assert_invalid(
            DEAD_LETTER_EXCHANGE,
            FieldValue::LongString(vec![b'a', 0xff]),
            "exchange name is not valid UTF-8: invalid byte at offset 1",
        );
        assert_invalid(
            DEAD_LETTER_EXCHANGE,
            "a".repeat(256).as_str().into(),
            "exchange name too long: 256 bytes, at most 255",
        );
    }

    #[test]
    fn x1_dead_letter_routing_key_parsed() {
        for key in ["", "jobs.dead", &"k".repeat(255)] {
            for exchange in ["", "dlx"] {
                let args = declare(&table(&[
                    (DEAD_LETTER_EXCHANGE, exchange.into()),
                    (DEAD_LETTER_ROUTING_KEY, key.into()),
                ]))
                .unwrap();
                assert_eq!(args.dead_letter_exchange.as_deref(), Some(exchange));
                assert_eq!(args.dead_letter_routing_key.as_deref(), Some(key));
            }
        }
    }

    #[test]
    fn x1_dead_letter_routing_key_invalid() {
        assert_invalid(
            DEAD_LETTER_ROUTING_KEY,
            FieldValue::U8(1),
            "expected a long string, got unsigned 8-bit integer 1",
        );
        assert_invalid(
            DEAD_LETTER_ROUTING_KEY,
            FieldValue::LongString(vec![0xc3]),
            "routing key is not valid UTF-8: invalid byte at offset 0",
        );
        assert_invalid(
            DEAD_LETTER_ROUTING_KEY,
            "k".repeat(256).as_str().into(),
            "routing key too long: 256 bytes, at most 255",
        );
    }

    #[test]
    fn x1_dead_letter_routing_key_without_exchange_refused() {
        let err = declare(&table(&[(DEAD_LETTER_ROUTING_KEY, "jobs.dead".into())])).unwrap_err();
        assert_406(
            &err,
            "invalid arg 'x-dead-letter-routing-key' for queue 'jobs': long string 'jobs.dead' \
             given without 'x-dead-letter-exchange'",
        );
        // Also with other arguments, and with the empty key.
        let err = declare(&table(&[
            (DEAD_LETTER_ROUTING_KEY, "".into()),
            (MESSAGE_TTL, FieldValue::I32(5)),
        ]))
        .unwrap_err();
        assert_406(
            &err,
            "invalid arg 'x-dead-letter-routing-key' for queue 'jobs': long string '' given \
             without 'x-dead-letter-exchange'",
        );
    }

    #[test]
    fn d6_single_active_consumer_parsed() {
        assert!(!declare(&FieldTable::new()).unwrap().single_active_consumer);
        assert!(declare_one(SINGLE_ACTIVE_CONSUMER, FieldValue::Bool(true)).single_active_consumer);
        assert!(
            !declare_one(SINGLE_ACTIVE_CONSUMER, FieldValue::Bool(false)).single_active_consumer
        );
    }

    #[test]
    fn d6_single_active_consumer_must_be_bool() {
        assert_invalid(
            SINGLE_ACTIVE_CONSUMER,
            FieldValue::I8(1),
            "expected a boolean, got signed 8-bit integer 1",
        );
        assert_invalid(
            SINGLE_ACTIVE_CONSUMER,
            "true".into(),
            "expected a boolean, got long string 'true'",
        );
        assert_invalid(
            SINGLE_ACTIVE_CONSUMER,
            FieldValue::Void,
            "expected a boolean, got void void",
        );
    }

    // x-delivery-limit: SEMANTICS "Beyond RabbitMQ: delivery limit", on A10's counts; -1 is
    // RabbitMQ 4's "no limit".
    #[test]
    fn a10_delivery_limit_bounds() {
        for (value, limit) in [
            (FieldValue::I8(-1), None),
            (FieldValue::I16(-1), None),
            (FieldValue::I64(-1), None),
            (FieldValue::U8(0), Some(0)),
            (FieldValue::I32(20), Some(20)),
            (FieldValue::U32(u32::MAX), Some(u32::MAX)),
            (FieldValue::I64(i64::from(u32::MAX)), Some(u32::MAX)),
            (FieldValue::U64(5), Some(5)),
        ] {
            let args = declare_one(DELIVERY_LIMIT, value);
            assert_eq!(args.delivery_limit, limit, "{:?}", args.raw);
        }
    }

    #[test]
    fn a10_delivery_limit_invalid() {
        assert_invalid(
            DELIVERY_LIMIT,
            FieldValue::I8(-2),
            "expected -1 (no limit) or an integer from 0 to 4294967295, got signed 8-bit \
             integer -2",
        );
        assert_invalid(
            DELIVERY_LIMIT,
            FieldValue::I64(i64::from(u32::MAX) + 1),
            "expected -1 (no limit) or an integer from 0 to 4294967295, got signed 64-bit \
             integer 4294967296",
        );
        for value in non_integers()
            .into_iter()
            .chain([FieldValue::U64(u64::MAX), FieldValue::I64(i64::MIN)])
        {
            let why = format!(
                "expected -1 (no limit) or an integer from 0 to 4294967295, got {} {value}",
                value.type_name()
            );
            assert_invalid(DELIVERY_LIMIT, value, &why);
        }
    }

    #[test]
    fn d5_consumer_priority_parsed() {
        let priority =
            |value: FieldValue| ConsumeArgs::parse(&table(&[(CONSUMER_PRIORITY, value)])).unwrap();
        assert_eq!(ConsumeArgs::parse(&FieldTable::new()).unwrap().priority, 0);
        for (value, expected) in [
            (FieldValue::I8(-3), -3),
            (FieldValue::U8(10), 10),
            (FieldValue::I16(-300), -300),
            (FieldValue::U16(60_000), 60_000),
            (FieldValue::I32(i32::MIN), i32::MIN),
            (FieldValue::I32(i32::MAX), i32::MAX),
            (FieldValue::U32(7), 7),
            (FieldValue::I64(i64::from(i32::MIN)), i32::MIN),
            (FieldValue::U64(0), 0),
        ] {
            let args = priority(value);
            assert_eq!(args.priority, expected);
            assert_eq!(args.consumer_timeout_ms, None);
        }
        let both = ConsumeArgs::parse(&table(&[
            (CONSUMER_PRIORITY, FieldValue::I32(-1)),
            (CONSUMER_TIMEOUT, FieldValue::U16(500)),
        ]))
        .unwrap();
        assert_eq!(
            both,
            ConsumeArgs {
                consumer_timeout_ms: Some(500),
                priority: -1,
            }
        );
    }

    #[test]
    fn d5_consumer_priority_invalid() {
        let err = ConsumeArgs::parse(&table(&[(
            CONSUMER_PRIORITY,
            FieldValue::I64(i64::from(i32::MAX) + 1),
        )]))
        .unwrap_err();
        assert_406(
            &err,
            "invalid consume arg 'x-priority': expected an integer from -2147483648 to \
             2147483647, got signed 64-bit integer 2147483648",
        );
        for value in non_integers().into_iter().chain([
            FieldValue::U32(u32::MAX),
            FieldValue::I64(i64::from(i32::MIN) - 1),
            FieldValue::U64(u64::MAX),
        ]) {
            let err =
                ConsumeArgs::parse(&table(&[(CONSUMER_PRIORITY, value.clone())])).unwrap_err();
            assert_406(
                &err,
                &format!(
                    "invalid consume arg 'x-priority': expected an integer from -2147483648 to \
                     2147483647, got {} {value}",
                    value.type_name()
                ),
            );
        }
    }

    #[test]
    fn e7_alternate_exchange_parsed() {
        let args = table(&[
            (ALTERNATE_EXCHANGE, "unrouted".into()),
            ("x-other", 1u8.into()),
        ]);
        let parsed = ExchangeArgs::parse("orders", &args).unwrap();
        assert_eq!(parsed.alternate.as_deref(), Some("unrouted"));
        assert_eq!(parsed.raw, args);
        let none = ExchangeArgs::parse("orders", &FieldTable::new()).unwrap();
        assert_eq!(none.alternate, None);
        let max = "a".repeat(255);
        let parsed = ExchangeArgs::parse(
            "orders",
            &table(&[(ALTERNATE_EXCHANGE, max.as_str().into())]),
        )
        .unwrap();
        assert_eq!(parsed.alternate, Some(max));
    }

    #[test]
    fn e7_alternate_exchange_of_wrong_type_refused() {
        let err = ExchangeArgs::parse(
            "orders",
            &table(&[(ALTERNATE_EXCHANGE, FieldValue::I32(3))]),
        )
        .unwrap_err();
        assert_406(
            &err,
            "invalid arg 'alternate-exchange' for exchange 'orders': expected a long string, got \
             signed 32-bit integer 3",
        );
        let bytes = FieldValue::ByteArray(b"ae".to_vec());
        let err =
            ExchangeArgs::parse("orders", &table(&[(ALTERNATE_EXCHANGE, bytes)])).unwrap_err();
        assert_eq!(err.reply_code(), Some(406));
    }

    #[test]
    fn e7_alternate_exchange_must_be_utf8() {
        let bad = FieldValue::LongString(vec![b'a', 0xff]);
        let err = ExchangeArgs::parse("orders", &table(&[(ALTERNATE_EXCHANGE, bad)])).unwrap_err();
        assert_406(
            &err,
            "invalid arg 'alternate-exchange' for exchange 'orders': exchange name is not valid \
             UTF-8: invalid byte at offset 1",
        );
    }

    #[test]
    fn e7_alternate_exchange_at_most_255_bytes() {
        let long = "a".repeat(256);
        let err = ExchangeArgs::parse(
            "orders",
            &table(&[(ALTERNATE_EXCHANGE, long.as_str().into())]),
        )
        .unwrap_err();
        assert_406(
            &err,
            "invalid arg 'alternate-exchange' for exchange 'orders': exchange name too long: 256 \
             bytes, at most 255",
        );
    }

    #[test]
    fn e10_only_alternate_exchange_compared() {
        let parse = |args: FieldTable| ExchangeArgs::parse("orders", &args).unwrap();
        let a = parse(table(&[
            (ALTERNATE_EXCHANGE, "ae".into()),
            ("x-one", 1u8.into()),
        ]));
        let b = parse(table(&[
            (ALTERNATE_EXCHANGE, "ae".into()),
            ("x-two", 2u8.into()),
        ]));
        let other = parse(table(&[(ALTERNATE_EXCHANGE, "ae2".into())]));
        let none = parse(FieldTable::new());
        assert_eq!(a.equivalent(&b), Ok(()));
        assert_eq!(a.equivalent(&other), Err(ALTERNATE_EXCHANGE.to_owned()));
        assert_eq!(a.equivalent(&none), Err(ALTERNATE_EXCHANGE.to_owned()));
        assert_eq!(none.equivalent(&a), Err(ALTERNATE_EXCHANGE.to_owned()));
        assert_eq!(none.equivalent(&parse(FieldTable::new())), Ok(()));
    }
}
