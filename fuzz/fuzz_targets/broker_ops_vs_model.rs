//! Arbitrary broker operations (declare, bind, publish, consume, qos, ack / nack / reject,
//! cancel, consumer loss, recover, get, purge, delete, channel close) run against the engine
//! and the reference broker of `tests/model/broker.rs`, compared after every operation
//! (SEMANTICS E, Q, P, D, A, F). The operations, their decoding and the comparison live in
//! `tests/model/broker_ops.rs`, shared with the proptest `tests/integration/broker_model.rs`.
//!
//! Each operation is five bytes: a kind chosen by weight, then its fields. A failing input is
//! printed (`cargo fuzz fmt`) as Rust that replays it through `broker_ops::run`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::fmt;

#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/model/topic.rs"]
mod topic;

#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/model/broker.rs"]
mod broker;

#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/model/broker_ops.rs"]
mod broker_ops;

use broker_ops::Op;

#[derive(Arbitrary, Clone, Copy)]
struct RawOp {
    kind: u8,
    args: [u8; 4],
}

#[derive(Arbitrary)]
struct Ops(Vec<RawOp>);

impl Ops {
    fn decode(&self) -> Vec<Op> {
        self.0
            .iter()
            .take(broker_ops::MAX_OPS)
            .map(|r| Op::decode(r.kind, r.args))
            .collect()
    }
}

/// Prints the input as Rust that replays it.
impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// replay in a #[test] beside tests/model/broker_ops.rs:"
        )?;
        f.write_str(&broker_ops::reproducer(&self.decode()))
    }
}

fuzz_target!(|ops: Ops| {
    if let Err(e) = broker_ops::run(&ops.decode()) {
        panic!("{e}");
    }
});
