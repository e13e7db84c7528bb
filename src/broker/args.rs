//! Declare and consume arguments: parsing, checking and redeclare comparison.
//!
//! Queue arguments (SEMANTICS Q2, Q8, A9), consume arguments (SEMANTICS A9, D5) and exchange
//! arguments (SEMANTICS E7, E10) arrive as [`FieldTable`]s. Each `parse` checks the arguments
//! warren defines, keeps the table as given, and refuses what warren cannot honour yet, so a
//! program never silently loses a feature it asked for.
//!
//! # Invariants
//!
//! * **Integers are values, not encodings.** Any integer width is accepted where an integer is
//!   expected (a `U64` only up to `i64::MAX`), and two widths holding one value are equal in
//!   a redeclare (SEMANTICS Q2). Strings, floats, decimals and timestamps are not integers.
//! * **Only defined arguments are compared.** `equivalent` looks at the parsed values of the
//!   arguments SEMANTICS defines, a missing `x-queue-type` being `classic`; every other argument
//!   is kept in `raw` (the whole table as declared), uncompared (SEMANTICS Q2, E10).
//! * **Errors are 406** `PRECONDITION_FAILED`, with RabbitMQ's `invalid arg '<name>' for queue
//!   '<queue>'` shape, naming the argument and why (SEMANTICS F3).
//!
//! # Limits
//!
//! Queue arguments of features not built yet (message TTL, queue expiry, length limits,
//! dead-lettering, priorities, single active consumer, delivery limits, stream retention) and
//! consume arguments of consumer priorities and streams are refused with 406 naming them,
//! rather than accepted and ignored. `x-queue-mode` is kept, uncompared: RabbitMQ 4 ignores it.

use super::properties::check_table;
use crate::error::Error;
use crate::message::{FieldTable, FieldValue};
use crate::topic::MAX_LEN;

/// The consume and queue argument for the consumer timeout, in ms (SEMANTICS A9).
const CONSUMER_TIMEOUT: &str = "x-consumer-timeout";
/// The queue argument choosing the queue type (SEMANTICS Q8).
const QUEUE_TYPE: &str = "x-queue-type";
/// The exchange argument naming the alternate exchange (SEMANTICS E7).
const ALTERNATE_EXCHANGE: &str = "alternate-exchange";

/// Queue arguments of features warren does not have yet: refused with 406 (SEMANTICS Q8).
const UNSUPPORTED_QUEUE_ARGS: [&str; 11] = [
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-delivery-limit",
    "x-expires",
    "x-max-age",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-message-ttl",
    "x-overflow",
    "x-single-active-consumer",
];

/// Consume arguments of features warren does not have yet: refused with 406.
const UNSUPPORTED_CONSUME_ARGS: [&str; 4] = [
    "x-priority",
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
fn precondition_failed(text: impl std::fmt::Display) -> Error {
    Error::amqp(406, format!("PRECONDITION_FAILED - {text}"))
}

/// A value for messages: its type name and value, e.g. `long string '5'`.
fn describe(value: &FieldValue) -> String {
    format!("{} {value}", value.type_name())
}

/// Parses a consumer timeout value: an integer above 0 (ms). `Err` holds why not, for the
/// caller's message.
fn parse_timeout(value: &FieldValue) -> Result<u64, String> {
    int_arg(value)
        .filter(|&ms| ms > 0)
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| {
            format!(
                "expected an integer above 0 (milliseconds), got {}",
                describe(value)
            )
        })
}

/// Parses an exchange name held in an argument: a long string of valid UTF-8, at most 255
/// bytes (SEMANTICS N1). `Err` holds why not, for the caller's message.
fn parse_exchange_name(value: &FieldValue) -> Result<String, String> {
    let bytes = value
        .as_bytes()
        .ok_or_else(|| format!("expected a long string, got {}", describe(value)))?;
    let name = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "exchange name is not valid UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        )
    })?;
    if name.len() > MAX_LEN {
        return Err(format!(
            "exchange name too long: {} bytes, at most {MAX_LEN}",
            name.len()
        ));
    }
    Ok(name.to_owned())
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

/// The parsed arguments of a queue declare (SEMANTICS Q2, Q8, A9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueArgs {
    /// `x-queue-type`, `classic` when absent.
    pub(crate) queue_type: QueueType,
    /// `x-consumer-timeout` in ms, when given (SEMANTICS A9).
    pub(crate) consumer_timeout_ms: Option<u64>,
    /// The whole table as declared, recognised arguments included: listed back to users and
    /// reported in inequivalence messages; only the fields above are compared.
    pub(crate) raw: FieldTable,
}

impl QueueArgs {
    /// Parses and checks the arguments of a declare of `queue` with the given flags
    /// (`server_named`: the name was generated for an empty one, SEMANTICS Q6).
    ///
    /// Checks run in this order: `x-queue-type`'s value, then the arguments in name order
    /// (unsupported ones, `x-consumer-timeout`), then the quorum flag rules.
    ///
    /// # Errors
    ///
    /// 406 `PRECONDITION_FAILED` naming the argument (or the property, for quorum rules) for:
    /// an `x-queue-type` that is not a long string `classic` or `quorum` (SEMANTICS Q8); an
    /// argument of a feature not built yet; an `x-consumer-timeout` that is not an integer
    /// above 0 (SEMANTICS A9); a quorum queue that is not durable, is exclusive or is
    /// server-named (SEMANTICS Q8).
    pub(crate) fn parse(
        queue: &str,
        args: &FieldTable,
        durable: bool,
        exclusive: bool,
        server_named: bool,
    ) -> Result<QueueArgs, Error> {
        check_table(args)?;
        let invalid = |name: &str, why: &dyn std::fmt::Display| {
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
        let mut consumer_timeout_ms = None;
        for (name, value) in args {
            if UNSUPPORTED_QUEUE_ARGS.contains(&name) {
                return Err(invalid(name, &"not supported by this version of warren"));
            }
            if name == CONSUMER_TIMEOUT {
                let ms = parse_timeout(value).map_err(|why| invalid(name, &why))?;
                consumer_timeout_ms = Some(ms);
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
        Ok(QueueArgs {
            queue_type,
            consumer_timeout_ms,
            raw: args.clone(),
        })
    }

    /// Whether a redeclare with `other` matches these arguments (SEMANTICS Q2): the parsed
    /// `x-consumer-timeout` (present on one side only differs; compared by value, whatever the
    /// integer width) and `x-queue-type` (missing = `classic`). Other arguments are not
    /// compared.
    ///
    /// # Errors
    ///
    /// The name of the first differing argument, in name order, for the caller's
    /// `inequivalent arg` message (the values are in each side's `raw`).
    pub(crate) fn equivalent(&self, other: &QueueArgs) -> Result<(), String> {
        if self.consumer_timeout_ms != other.consumer_timeout_ms {
            return Err(CONSUMER_TIMEOUT.to_owned());
        }
        if self.queue_type != other.queue_type {
            return Err(QUEUE_TYPE.to_owned());
        }
        Ok(())
    }
}

/// The parsed arguments of a consume (SEMANTICS A9).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConsumeArgs {
    /// `x-consumer-timeout` in ms, when given; it overrides the queue's (SEMANTICS A9).
    pub(crate) consumer_timeout_ms: Option<u64>,
}

impl ConsumeArgs {
    /// Parses and checks consume arguments; arguments warren does not define are ignored, as
    /// RabbitMQ ignores them.
    ///
    /// # Errors
    ///
    /// 406 `PRECONDITION_FAILED` naming the argument, for an `x-consumer-timeout` that is not an
    /// integer above 0, or an argument of a feature not built yet (`x-priority`, the stream
    /// arguments).
    pub(crate) fn parse(args: &FieldTable) -> Result<ConsumeArgs, Error> {
        let invalid = |name: &str, why: &dyn std::fmt::Display| {
            precondition_failed(format_args!("invalid consume arg '{name}': {why}"))
        };
        let mut consumer_timeout_ms = None;
        for (name, value) in args {
            if UNSUPPORTED_CONSUME_ARGS.contains(&name) {
                return Err(invalid(name, &"not supported by this version of warren"));
            }
            if name == CONSUMER_TIMEOUT {
                let ms = parse_timeout(value).map_err(|why| invalid(name, &why))?;
                consumer_timeout_ms = Some(ms);
            }
        }
        Ok(ConsumeArgs {
            consumer_timeout_ms,
        })
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
    fn q2_no_args_is_classic_without_timeout() {
        let args = declare(&FieldTable::new()).unwrap();
        assert_eq!(args.queue_type, QueueType::Classic);
        assert_eq!(args.consumer_timeout_ms, None);
        assert!(args.raw.is_empty());
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
    fn q8_delivery_limit_and_max_age_refused() {
        for (name, value) in [
            ("x-delivery-limit", FieldValue::I64(5)),
            ("x-max-age", FieldValue::from("7D")),
        ] {
            let args = table(&[(QUEUE_TYPE, "quorum".into()), (name, value)]);
            let err = declare(&args).unwrap_err();
            assert!(err.to_string().contains(&format!("'{name}'")), "{err}");
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
        let parsed: Vec<QueueArgs> = widths
            .iter()
            .map(|v| declare(&table(&[(CONSUMER_TIMEOUT, v.clone())])).unwrap())
            .collect();
        for a in &parsed {
            for b in &parsed {
                assert_eq!(a.equivalent(b), Ok(()), "{:?} vs {:?}", a.raw, b.raw);
            }
        }
        let other = declare(&table(&[(CONSUMER_TIMEOUT, FieldValue::I32(101))])).unwrap();
        assert_eq!(
            parsed[0].equivalent(&other),
            Err(CONSUMER_TIMEOUT.to_owned())
        );
    }

    #[test]
    fn q2_presence_on_one_side_only_differs() {
        let with = declare(&table(&[(CONSUMER_TIMEOUT, FieldValue::I32(5))])).unwrap();
        let without = declare(&FieldTable::new()).unwrap();
        assert_eq!(with.equivalent(&without), Err(CONSUMER_TIMEOUT.to_owned()));
        assert_eq!(without.equivalent(&with), Err(CONSUMER_TIMEOUT.to_owned()));
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
    fn d5_consumer_priority_refused_until_built() {
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
