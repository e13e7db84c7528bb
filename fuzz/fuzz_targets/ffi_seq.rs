//! Arbitrary sequences of C ABI calls (`warren::ffi`), as a C program could make them without
//! undefined behaviour: handles from earlier calls or NULL, strings that are empty, NULL with a
//! length, invalid UTF-8, 256 bytes, or a single byte with a length that lies far beyond any
//! limit (refused before a byte is read), tables nested and copied into each other, frees and
//! closes in any order (brokers before their channels, channels before their deliveries).
//!
//! What must hold after every call (SEMANTICS F5, F6; the C ABI's conventions): no crash and
//! no `WARREN_STATUS_PANIC` (a panic in warren is a bug, even caught); outputs written only
//! on success (a handle output stays at its sentinel on failure and is set on success); a
//! failure leaves a non-empty error text. Everything still held is freed at the end; handles
//! are freed at most once, and never used after their free (that is the caller's UB, not
//! something to fuzz).
//!
//! Nothing blocks: receives and confirm waits use timeout 0; brokers are in memory (a durable
//! open is only tried with paths refused before the disk is touched). A failing input prints
//! (`cargo fuzz fmt`) as the Rust list of operations to pass to `run`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::ffi::c_void;
use std::fmt;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use warren::ffi::*;

const MAX_OPS: usize = 96;
/// Slots per kind of handle: small, so that operations meet the same handles often.
const SLOTS: usize = 3;
/// The most values a table or array slot may hold, nested ones included (copies into
/// themselves double it).
const MAX_WEIGHT: usize = 4096;

/// A byte string as C could pass it.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Text {
    /// (NULL, 0): the empty string.
    Empty,
    /// One of a few short valid names.
    Name(u8),
    /// (NULL, n > 0): refused.
    NullWithLen(u8),
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// 256 bytes: one too many for a name.
    TooLong,
    /// One real byte, a length of 2^40: refused before a byte is read.
    Lying,
}

const NAMES: [&str; 6] = ["q", "x", "a.b", "amq.topic", "", "amq.rabbitmq.reply-to"];
const INVALID: [u8; 3] = [b'a', 0xc3, 0x28];
static LONG: [u8; 256] = [b'l'; 256];
static ONE: [u8; 1] = [b'z'];

impl Text {
    fn pair(self) -> (*const u8, usize) {
        match self {
            Text::Empty => (null(), 0),
            Text::Name(i) => {
                let n = NAMES[usize::from(i) % NAMES.len()];
                (n.as_ptr(), n.len())
            }
            Text::NullWithLen(n) => (null(), usize::from(n).max(1)),
            Text::InvalidUtf8 => (INVALID.as_ptr(), INVALID.len()),
            Text::TooLong => (LONG.as_ptr(), LONG.len()),
            Text::Lying => (ONE.as_ptr(), 1 << 40),
        }
    }
}

/// A field value for a table set or an array push.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Value {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Float(f32),
    Double(f64),
    Decimal(u8, u32),
    Str(Text),
    Bytes(Text),
    Timestamp(u64),
    Void,
    /// A copy of the table in this slot (NULL if empty).
    Table(u8),
    /// A copy of the array in this slot.
    Array(u8),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
enum Op {
    BrokerNew {
        b: u8,
        options: Option<u8>,
    },
    BrokerOpenRefused {
        b: u8,
        null_dir: bool,
    },
    BrokerClose {
        b: u8,
    },
    BrokerFree {
        b: u8,
    },
    AdvanceClock {
        b: u8,
        ms: u16,
    },
    OptionsNew {
        o: u8,
    },
    OptionsSet {
        o: u8,
        which: u8,
        value: u32,
    },
    OptionsFree {
        o: u8,
    },
    Connect {
        b: u8,
        c: u8,
    },
    ConnectionClose {
        c: u8,
    },
    ConnectionFree {
        c: u8,
    },
    CreateChannel {
        c: u8,
        ch: u8,
    },
    ChannelClose {
        ch: u8,
    },
    ChannelFree {
        ch: u8,
    },
    ExchangeDeclare {
        ch: u8,
        name: Text,
        kind: u8,
        flags: u8,
        args: Option<u8>,
    },
    ExchangeDelete {
        ch: u8,
        name: Text,
        flags: u8,
    },
    ExchangeBind {
        ch: u8,
        dst: Text,
        src: Text,
        key: Text,
        args: Option<u8>,
        bind: bool,
    },
    QueueDeclare {
        ch: u8,
        name: Text,
        flags: u8,
        args: Option<u8>,
        cap: u8,
    },
    QueueBind {
        ch: u8,
        q: Text,
        x: Text,
        key: Text,
        args: Option<u8>,
        bind: bool,
    },
    QueuePurge {
        ch: u8,
        q: Text,
    },
    QueueDelete {
        ch: u8,
        q: Text,
        flags: u8,
    },
    Qos {
        ch: u8,
        count: u16,
        global: bool,
    },
    Publish {
        ch: u8,
        x: Text,
        key: Text,
        body: Text,
        props: Option<u8>,
        mandatory: bool,
    },
    Consume {
        ch: u8,
        q: Text,
        tag: Text,
        no_ack: bool,
        exclusive: bool,
        args: Option<u8>,
        out: u8,
    },
    Get {
        ch: u8,
        q: Text,
        no_ack: bool,
        out: u8,
    },
    Recv {
        cons: u8,
        out: u8,
    },
    SetDeliveryCallback {
        cons: u8,
    },
    ConsumerTag {
        cons: u8,
        cap: u8,
    },
    ConsumerCancel {
        cons: u8,
    },
    ConsumerFree {
        cons: u8,
    },
    Settle {
        d: u8,
        how: u8,
        flag: bool,
    },
    SettleByTag {
        ch: u8,
        tag: u8,
        how: u8,
        flag: bool,
    },
    ReadDelivery {
        d: u8,
    },
    DeliveryFree {
        d: u8,
    },
    Recover {
        ch: u8,
        requeue: bool,
    },
    ConfirmSelect {
        ch: u8,
    },
    WaitForConfirms {
        ch: u8,
        or_die: bool,
    },
    SetConfirmCallback {
        ch: u8,
    },
    SetReturnCallback {
        ch: u8,
    },
    TableNew {
        t: u8,
    },
    TableSet {
        t: u8,
        name: Text,
        value: Value,
    },
    TableRemove {
        t: u8,
        name: Text,
    },
    TableRead {
        t: u8,
        name: Text,
        index: u8,
    },
    TableCopy {
        from: u8,
        to: u8,
    },
    TableFree {
        t: u8,
    },
    ArrayNew {
        a: u8,
    },
    ArrayPush {
        a: u8,
        value: Value,
    },
    ArrayRead {
        a: u8,
        index: u8,
    },
    ArrayFree {
        a: u8,
    },
    PropertiesNew {
        p: u8,
    },
    PropertiesSetText {
        p: u8,
        which: u8,
        value: Text,
    },
    PropertiesSetNumber {
        p: u8,
        which: u8,
        value: u64,
    },
    PropertiesSetHeaders {
        p: u8,
        t: Option<u8>,
    },
    PropertiesClear {
        p: u8,
    },
    PropertiesRead {
        p: u8,
    },
    PropertiesFree {
        p: u8,
    },
    TopicNew {
        t: u8,
    },
    TopicBind {
        t: u8,
        pattern: Text,
        dest: u8,
        bind: bool,
    },
    TopicRoute {
        t: u8,
        key: Text,
        cap: u8,
    },
    TopicFree {
        t: u8,
    },
    LastError {
        cap: u8,
    },
}

/// The operations of one input.
struct Ops(Vec<Op>);

impl<'a> Arbitrary<'a> for Ops {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut ops = Vec::new();
        while ops.len() < MAX_OPS && !u.is_empty() {
            ops.push(u.arbitrary()?);
        }
        Ok(Ops(ops))
    }
}

/// Prints the input as Rust that replays it: `run(&[...])`.
impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "// replay: run(&[")?;
        for op in &self.0 {
            writeln!(f, "    Op::{op:?},")?;
        }
        writeln!(f, "]);")
    }
}

/// Calls of the C callbacks, so the compiler keeps them honest.
static CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn on_confirm(_: *mut c_void, _: u64, _: bool, _: bool) {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" fn on_return(_: *mut c_void, m: *const warren_returned_message) {
    // SAFETY: `m` and what it points to are valid for the call (the callback's contract).
    let props = unsafe { (*m).properties };
    let (mut p, mut n) = (null(), 0);
    // SAFETY: `props` is a valid view for the call; the outputs are writable.
    unsafe { warren_properties_message_id(props, &mut p, &mut n) };
    CALLS.fetch_add(1, Ordering::Relaxed);
}

/// The consumer callback: owns each delivery, frees it (on the consumer's thread).
unsafe extern "C" fn on_delivery(_: *mut c_void, d: *mut warren_delivery) {
    // SAFETY: `d` is NULL (the end) or a delivery this callback owns.
    unsafe {
        warren_delivery_ack(d);
        warren_delivery_free(d);
    }
    CALLS.fetch_add(1, Ordering::Relaxed);
}

/// Checks a status: never a panic; a failure leaves error text.
fn checked(status: warren_status, what: &str) -> bool {
    assert_ne!(
        status,
        warren_status::WARREN_STATUS_PANIC,
        "{what} panicked"
    );
    if status != warren_status::WARREN_STATUS_OK {
        // SAFETY: (NULL, 0) writes nothing.
        let len = unsafe { warren_last_error(null_mut(), 0) };
        assert!(len > 0, "{what} failed ({status:?}) without error text");
    }
    status == warren_status::WARREN_STATUS_OK
}

/// A handle output: the sentinel before the call, set on success only.
fn sentinel<T>() -> *mut T {
    std::ptr::NonNull::<T>::dangling().as_ptr()
}

/// Checks an output that must be written on success and left alone on failure.
fn output<T>(ok: bool, out: *mut T, what: &str) -> *mut T {
    if ok {
        assert!(
            out != sentinel(),
            "{what} succeeded without writing its output"
        );
        out
    } else {
        assert!(out == sentinel(), "{what} failed but wrote its output");
        null_mut()
    }
}

/// Slots of handles; NULL when empty, so an operation on an empty slot passes NULL.
struct World {
    options: [*mut warren_broker_options; SLOTS],
    brokers: [*mut warren_broker; SLOTS],
    connections: [*mut warren_connection; SLOTS],
    channels: [*mut warren_channel; SLOTS],
    consumers: [*mut warren_consumer; SLOTS],
    deliveries: [*mut warren_delivery; SLOTS],
    tables: [*mut warren_table; SLOTS],
    table_weight: [usize; SLOTS],
    arrays: [*mut warren_array; SLOTS],
    array_weight: [usize; SLOTS],
    properties: [*mut warren_properties; SLOTS],
    topics: [*mut warren_topic; SLOTS],
}

fn slot(i: u8) -> usize {
    usize::from(i) % SLOTS
}

/// Puts `new` in a slot, freeing what it held.
fn replace<T>(slot: &mut *mut T, new: *mut T, free: unsafe extern "C" fn(*mut T)) {
    let old = std::mem::replace(slot, new);
    // SAFETY: `old` is NULL or a live handle of this kind, removed from the world.
    unsafe { free(old) };
}

/// Takes a handle out of its slot and frees it.
fn take<T>(slot: &mut *mut T, free: unsafe extern "C" fn(*mut T)) {
    replace(slot, null_mut(), free);
}

impl World {
    fn new() -> World {
        World {
            options: [null_mut(); SLOTS],
            brokers: [null_mut(); SLOTS],
            connections: [null_mut(); SLOTS],
            channels: [null_mut(); SLOTS],
            consumers: [null_mut(); SLOTS],
            deliveries: [null_mut(); SLOTS],
            tables: [null_mut(); SLOTS],
            table_weight: [0; SLOTS],
            arrays: [null_mut(); SLOTS],
            array_weight: [0; SLOTS],
            properties: [null_mut(); SLOTS],
            topics: [null_mut(); SLOTS],
        }
    }

    fn table(&self, t: Option<u8>) -> *const warren_table {
        t.map_or(null(), |t| self.tables[slot(t)])
    }

    /// The weight a value adds to a container, and the C value to set.
    fn weight(&self, v: Value) -> usize {
        match v {
            Value::Table(t) => self.table_weight[slot(t)] + 1,
            Value::Array(a) => self.array_weight[slot(a)] + 1,
            _ => 1,
        }
    }

    /// Runs one operation. Every call's status is checked by [`checked`].
    ///
    /// # Safety
    ///
    /// The world's slots hold NULL or live handles of their kind (each operation keeps it so).
    #[allow(clippy::too_many_lines)]
    unsafe fn apply(&mut self, op: Op) {
        use Op::*;
        // SAFETY (for every call below): each handle passed is NULL or live (the world's
        // invariant); each string pair is from `Text::pair`, so NULL with a length, a real
        // buffer of that length, or a length over every limit (refused before reading);
        // each output points to a local; handles freed are removed from their slot first.
        unsafe {
            match op {
                BrokerNew { b, options } => {
                    let mut out = sentinel();
                    let o = options.map_or(null(), |o| self.options[slot(o)].cast_const());
                    let ok = checked(warren_broker_new_with_options(o, &mut out), "broker_new");
                    replace(
                        &mut self.brokers[slot(b)],
                        output(ok, out, "broker_new"),
                        warren_broker_free,
                    );
                }
                BrokerOpenRefused { b, null_dir } => {
                    let mut out = sentinel();
                    let (dir, len) = if null_dir { (null(), 3) } else { (null(), 0) };
                    let ok = checked(warren_broker_open(dir, len, &mut out), "broker_open");
                    assert!(!ok, "an empty or NULL dir opened a broker");
                    replace(
                        &mut self.brokers[slot(b)],
                        output(ok, out, "broker_open"),
                        warren_broker_free,
                    );
                }
                BrokerClose { b } => {
                    checked(warren_broker_close(self.brokers[slot(b)]), "broker_close");
                }
                BrokerFree { b } => take(&mut self.brokers[slot(b)], warren_broker_free),
                AdvanceClock { b, ms } => {
                    checked(
                        warren_broker_advance_clock(self.brokers[slot(b)], u64::from(ms)),
                        "advance_clock",
                    );
                }
                OptionsNew { o } => {
                    let mut out = sentinel();
                    let ok = checked(warren_broker_options_new(&mut out), "options_new");
                    replace(
                        &mut self.options[slot(o)],
                        output(ok, out, "options_new"),
                        warren_broker_options_free,
                    );
                }
                OptionsSet { o, which, value } => {
                    let o = self.options[slot(o)];
                    let status = match which % 5 {
                        0 => warren_broker_options_set_max_message_size(
                            o,
                            usize::try_from(value).unwrap_or(usize::MAX) << 8,
                        ),
                        1 => warren_broker_options_set_channel_max(
                            o,
                            u16::try_from(value % 8).unwrap_or(1),
                        ),
                        2 => warren_broker_options_set_consumer_timeout(o, u64::from(value % 1000)),
                        3 => warren_broker_options_set_manual_clock(o, u64::from(value)),
                        _ => warren_broker_options_set_segment_size(o, u64::from(value)),
                    };
                    checked(status, "options_set");
                }
                OptionsFree { o } => take(&mut self.options[slot(o)], warren_broker_options_free),
                Connect { b, c } => {
                    let mut out = sentinel();
                    let ok = checked(
                        warren_broker_connect(self.brokers[slot(b)], &mut out),
                        "connect",
                    );
                    replace(
                        &mut self.connections[slot(c)],
                        output(ok, out, "connect"),
                        warren_connection_free,
                    );
                }
                ConnectionClose { c } => {
                    checked(
                        warren_connection_close(self.connections[slot(c)]),
                        "connection_close",
                    );
                }
                ConnectionFree { c } => {
                    take(&mut self.connections[slot(c)], warren_connection_free)
                }
                CreateChannel { c, ch } => {
                    let mut out = sentinel();
                    let ok = checked(
                        warren_connection_create_channel(self.connections[slot(c)], &mut out),
                        "create_channel",
                    );
                    replace(
                        &mut self.channels[slot(ch)],
                        output(ok, out, "create_channel"),
                        warren_channel_free,
                    );
                }
                ChannelClose { ch } => {
                    checked(
                        warren_channel_close(self.channels[slot(ch)]),
                        "channel_close",
                    );
                }
                ChannelFree { ch } => take(&mut self.channels[slot(ch)], warren_channel_free),
                ExchangeDeclare {
                    ch,
                    name,
                    kind,
                    flags,
                    args,
                } => {
                    let (n, nl) = name.pair();
                    checked(
                        warren_channel_exchange_declare(
                            self.channels[slot(ch)],
                            n,
                            nl,
                            warren_exchange_type(u32::from(kind % 5)),
                            warren_exchange_flags(u32::from(flags % 32)),
                            self.table(args),
                        ),
                        "exchange_declare",
                    );
                }
                ExchangeDelete { ch, name, flags } => {
                    let (n, nl) = name.pair();
                    checked(
                        warren_channel_exchange_delete(
                            self.channels[slot(ch)],
                            n,
                            nl,
                            warren_exchange_flags(u32::from(flags % 32)),
                        ),
                        "exchange_delete",
                    );
                }
                ExchangeBind {
                    ch,
                    dst,
                    src,
                    key,
                    args,
                    bind,
                } => {
                    let ((d, dl), (s, sl), (k, kl)) = (dst.pair(), src.pair(), key.pair());
                    let f = if bind {
                        warren_channel_exchange_bind
                    } else {
                        warren_channel_exchange_unbind
                    };
                    checked(
                        f(
                            self.channels[slot(ch)],
                            d,
                            dl,
                            s,
                            sl,
                            k,
                            kl,
                            self.table(args),
                        ),
                        "exchange_bind",
                    );
                }
                QueueDeclare {
                    ch,
                    name,
                    flags,
                    args,
                    cap,
                } => {
                    let (n, nl) = name.pair();
                    let mut buf = [0u8; 255];
                    let cap = usize::from(cap).min(buf.len());
                    let (mut len, mut messages, mut consumers) = (usize::MAX, u32::MAX, u32::MAX);
                    let ok = checked(
                        warren_channel_queue_declare(
                            self.channels[slot(ch)],
                            n,
                            nl,
                            warren_queue_flags(u32::from(flags % 64)),
                            self.table(args),
                            if cap == 0 {
                                null_mut()
                            } else {
                                buf.as_mut_ptr()
                            },
                            cap,
                            &mut len,
                            &mut messages,
                            &mut consumers,
                        ),
                        "queue_declare",
                    );
                    assert_eq!(ok, len != usize::MAX, "queue_declare's name length output");
                }
                QueueBind {
                    ch,
                    q,
                    x,
                    key,
                    args,
                    bind,
                } => {
                    let ((qp, ql), (xp, xl), (k, kl)) = (q.pair(), x.pair(), key.pair());
                    let f = if bind {
                        warren_channel_queue_bind
                    } else {
                        warren_channel_queue_unbind
                    };
                    checked(
                        f(
                            self.channels[slot(ch)],
                            qp,
                            ql,
                            xp,
                            xl,
                            k,
                            kl,
                            self.table(args),
                        ),
                        "queue_bind",
                    );
                }
                QueuePurge { ch, q } => {
                    let (qp, ql) = q.pair();
                    checked(
                        warren_channel_queue_purge(self.channels[slot(ch)], qp, ql, null_mut()),
                        "queue_purge",
                    );
                }
                QueueDelete { ch, q, flags } => {
                    let (qp, ql) = q.pair();
                    let mut count = 0;
                    checked(
                        warren_channel_queue_delete(
                            self.channels[slot(ch)],
                            qp,
                            ql,
                            warren_queue_flags(u32::from(flags % 64)),
                            &mut count,
                        ),
                        "queue_delete",
                    );
                }
                Qos { ch, count, global } => {
                    checked(
                        warren_channel_basic_qos(self.channels[slot(ch)], count % 4, global),
                        "qos",
                    );
                }
                Publish {
                    ch,
                    x,
                    key,
                    body,
                    props,
                    mandatory,
                } => {
                    let ((xp, xl), (k, kl), (b, bl)) = (x.pair(), key.pair(), body.pair());
                    let p = props.map_or(null(), |p| self.properties[slot(p)].cast_const());
                    let mut queues = usize::MAX;
                    let ok = checked(
                        warren_channel_basic_publish(
                            self.channels[slot(ch)],
                            xp,
                            xl,
                            k,
                            kl,
                            b,
                            bl,
                            p,
                            mandatory,
                            &mut queues,
                        ),
                        "publish",
                    );
                    assert_eq!(ok, queues != usize::MAX, "publish's queue count output");
                }
                Consume {
                    ch,
                    q,
                    tag,
                    no_ack,
                    exclusive,
                    args,
                    out,
                } => {
                    let ((qp, ql), (t, tl)) = (q.pair(), tag.pair());
                    let mut c = sentinel();
                    let ok = checked(
                        warren_channel_basic_consume(
                            self.channels[slot(ch)],
                            qp,
                            ql,
                            t,
                            tl,
                            no_ack,
                            exclusive,
                            self.table(args),
                            &mut c,
                        ),
                        "consume",
                    );
                    replace(
                        &mut self.consumers[slot(out)],
                        output(ok, c, "consume"),
                        warren_consumer_free,
                    );
                }
                Get { ch, q, no_ack, out } => {
                    let (qp, ql) = q.pair();
                    let mut d = sentinel();
                    let ok = checked(
                        warren_channel_basic_get(
                            self.channels[slot(ch)],
                            qp,
                            ql,
                            no_ack,
                            &mut d,
                            null_mut(),
                        ),
                        "get",
                    );
                    replace(
                        &mut self.deliveries[slot(out)],
                        output(ok, d, "get"),
                        warren_delivery_free,
                    );
                }
                Recv { cons, out } => {
                    let mut d = sentinel();
                    let ok = checked(
                        warren_consumer_recv(self.consumers[slot(cons)], 0, &mut d),
                        "recv",
                    );
                    if ok {
                        replace(
                            &mut self.deliveries[slot(out)],
                            output(ok, d, "recv"),
                            warren_delivery_free,
                        );
                    } else {
                        output(ok, d, "recv");
                    }
                }
                SetDeliveryCallback { cons } => {
                    checked(
                        warren_consumer_set_callback(
                            self.consumers[slot(cons)],
                            Some(on_delivery),
                            null_mut(),
                        ),
                        "set_callback",
                    );
                }
                ConsumerTag { cons, cap } => {
                    let mut buf = [0u8; 255];
                    let cap = usize::from(cap).min(buf.len());
                    let mut len = 0;
                    checked(
                        warren_consumer_tag(
                            self.consumers[slot(cons)],
                            buf.as_mut_ptr(),
                            cap,
                            &mut len,
                        ),
                        "consumer_tag",
                    );
                }
                ConsumerCancel { cons } => {
                    checked(
                        warren_consumer_cancel(self.consumers[slot(cons)]),
                        "consumer_cancel",
                    );
                }
                ConsumerFree { cons } => {
                    take(&mut self.consumers[slot(cons)], warren_consumer_free)
                }
                Settle { d, how, flag } => {
                    let d = self.deliveries[slot(d)];
                    let status = match how % 3 {
                        0 => warren_delivery_ack(d),
                        1 => warren_delivery_nack(d, flag, !flag),
                        _ => warren_delivery_reject(d, flag),
                    };
                    checked(status, "settle");
                }
                SettleByTag { ch, tag, how, flag } => {
                    let (ch, tag) = (self.channels[slot(ch)], u64::from(tag % 8));
                    let status = match how % 3 {
                        0 => warren_channel_basic_ack(ch, tag, flag),
                        1 => warren_channel_basic_nack(ch, tag, flag, true),
                        _ => warren_channel_basic_reject(ch, tag, flag),
                    };
                    checked(status, "settle_by_tag");
                }
                ReadDelivery { d } => self.read_delivery(self.deliveries[slot(d)]),
                DeliveryFree { d } => take(&mut self.deliveries[slot(d)], warren_delivery_free),
                Recover { ch, requeue } => {
                    checked(
                        warren_channel_basic_recover(self.channels[slot(ch)], requeue),
                        "recover",
                    );
                }
                ConfirmSelect { ch } => {
                    checked(
                        warren_channel_confirm_select(self.channels[slot(ch)]),
                        "confirm_select",
                    );
                }
                WaitForConfirms { ch, or_die } => {
                    let ch = self.channels[slot(ch)];
                    if or_die {
                        checked(
                            warren_channel_wait_for_confirms_or_die(ch, 0),
                            "wait_or_die",
                        );
                    } else {
                        let mut all = false;
                        checked(warren_channel_wait_for_confirms(ch, 0, &mut all), "wait");
                    }
                    warren_channel_next_publish_seq_no(ch);
                }
                SetConfirmCallback { ch } => {
                    checked(
                        warren_channel_set_confirm_callback(
                            self.channels[slot(ch)],
                            Some(on_confirm),
                            null_mut(),
                        ),
                        "set_confirm_callback",
                    );
                }
                SetReturnCallback { ch } => {
                    checked(
                        warren_channel_set_return_callback(
                            self.channels[slot(ch)],
                            Some(on_return),
                            null_mut(),
                        ),
                        "set_return_callback",
                    );
                }
                TableNew { t } => {
                    let mut out = sentinel();
                    let ok = checked(warren_table_new(&mut out), "table_new");
                    replace(
                        &mut self.tables[slot(t)],
                        output(ok, out, "table_new"),
                        warren_table_free,
                    );
                    self.table_weight[slot(t)] = 0;
                }
                TableSet { t, name, value } => {
                    let w = self.table_weight[slot(t)] + self.weight(value);
                    if w <= MAX_WEIGHT && self.set(self.tables[slot(t)], name, value) {
                        self.table_weight[slot(t)] = w;
                    }
                }
                TableRemove { t, name } => {
                    let (n, nl) = name.pair();
                    let mut removed = false;
                    checked(
                        warren_table_remove(self.tables[slot(t)], n, nl, &mut removed),
                        "table_remove",
                    );
                }
                TableRead { t, name, index } => {
                    let t = self.tables[slot(t)];
                    let (n, nl) = name.pair();
                    let (mut found, mut v) = (false, zero_value());
                    checked(warren_table_get(t, n, nl, &mut found, &mut v), "table_get");
                    let (mut np, mut nlen) = (null(), 0);
                    checked(
                        warren_table_entry(t, usize::from(index), &mut np, &mut nlen, &mut v),
                        "table_entry",
                    );
                    walk_table(t, 0);
                }
                TableCopy { from, to } => {
                    let mut out = sentinel();
                    let ok = checked(
                        warren_table_copy(self.tables[slot(from)], &mut out),
                        "table_copy",
                    );
                    let w = self.table_weight[slot(from)];
                    replace(
                        &mut self.tables[slot(to)],
                        output(ok, out, "table_copy"),
                        warren_table_free,
                    );
                    self.table_weight[slot(to)] = if ok { w } else { 0 };
                }
                TableFree { t } => {
                    take(&mut self.tables[slot(t)], warren_table_free);
                    self.table_weight[slot(t)] = 0;
                }
                ArrayNew { a } => {
                    let mut out = sentinel();
                    let ok = checked(warren_array_new(&mut out), "array_new");
                    replace(
                        &mut self.arrays[slot(a)],
                        output(ok, out, "array_new"),
                        warren_array_free,
                    );
                    self.array_weight[slot(a)] = 0;
                }
                ArrayPush { a, value } => {
                    let w = self.array_weight[slot(a)] + self.weight(value);
                    if w <= MAX_WEIGHT && self.push(self.arrays[slot(a)], value) {
                        self.array_weight[slot(a)] = w;
                    }
                }
                ArrayRead { a, index } => {
                    let mut v = zero_value();
                    checked(
                        warren_array_get(self.arrays[slot(a)], usize::from(index), &mut v),
                        "array_get",
                    );
                    walk_array(self.arrays[slot(a)], 0);
                }
                ArrayFree { a } => {
                    take(&mut self.arrays[slot(a)], warren_array_free);
                    self.array_weight[slot(a)] = 0;
                }
                PropertiesNew { p } => {
                    let mut out = sentinel();
                    let ok = checked(warren_properties_new(&mut out), "properties_new");
                    replace(
                        &mut self.properties[slot(p)],
                        output(ok, out, "properties_new"),
                        warren_properties_free,
                    );
                }
                PropertiesSetText { p, which, value } => {
                    let (v, vl) = value.pair();
                    let setters = [
                        warren_properties_set_content_type,
                        warren_properties_set_content_encoding,
                        warren_properties_set_correlation_id,
                        warren_properties_set_reply_to,
                        warren_properties_set_expiration,
                        warren_properties_set_message_id,
                        warren_properties_set_type,
                        warren_properties_set_user_id,
                        warren_properties_set_app_id,
                        warren_properties_set_cluster_id,
                    ];
                    let f = setters[usize::from(which) % setters.len()];
                    checked(f(self.properties[slot(p)], v, vl), "properties_set_text");
                }
                PropertiesSetNumber { p, which, value } => {
                    let p = self.properties[slot(p)];
                    let status = match which % 3 {
                        0 => warren_properties_set_delivery_mode(
                            p,
                            u8::try_from(value % 4).unwrap_or(0),
                        ),
                        1 => warren_properties_set_priority(
                            p,
                            u8::try_from(value % 256).unwrap_or(0),
                        ),
                        _ => warren_properties_set_timestamp(p, value),
                    };
                    checked(status, "properties_set_number");
                }
                PropertiesSetHeaders { p, t } => {
                    checked(
                        warren_properties_set_headers(self.properties[slot(p)], self.table(t)),
                        "set_headers",
                    );
                }
                PropertiesClear { p } => {
                    checked(
                        warren_properties_clear(self.properties[slot(p)]),
                        "properties_clear",
                    );
                }
                PropertiesRead { p } => read_properties(self.properties[slot(p)]),
                PropertiesFree { p } => take(&mut self.properties[slot(p)], warren_properties_free),
                TopicNew { t } => {
                    let mut out = sentinel();
                    let ok = checked(warren_topic_new(&mut out), "topic_new");
                    replace(
                        &mut self.topics[slot(t)],
                        output(ok, out, "topic_new"),
                        warren_topic_free,
                    );
                }
                TopicBind {
                    t,
                    pattern,
                    dest,
                    bind,
                } => {
                    let (p, pl) = pattern.pair();
                    let f = if bind {
                        warren_topic_bind
                    } else {
                        warren_topic_unbind
                    };
                    let mut changed = false;
                    checked(
                        f(
                            self.topics[slot(t)],
                            p,
                            pl,
                            u64::from(dest % 4),
                            &mut changed,
                        ),
                        "topic_bind",
                    );
                }
                TopicRoute { t, key, cap } => {
                    let (k, kl) = key.pair();
                    let mut dests = [0u64; 4];
                    let cap = usize::from(cap) % (dests.len() + 1);
                    let mut count = usize::MAX;
                    let status = warren_topic_route(
                        self.topics[slot(t)],
                        k,
                        kl,
                        dests.as_mut_ptr(),
                        cap,
                        &mut count,
                    );
                    if checked(status, "topic_route") {
                        assert!(count <= cap, "topic_route wrote more than its capacity");
                    }
                }
                TopicFree { t } => take(&mut self.topics[slot(t)], warren_topic_free),
                LastError { cap } => {
                    let mut buf = [0xffu8; 64];
                    let cap = usize::from(cap) % (buf.len() + 1);
                    let full = warren_last_error(buf.as_mut_ptr().cast(), cap);
                    if cap > 0 {
                        assert_eq!(buf[full.min(cap - 1)], 0, "last_error's NUL");
                    }
                }
            }
        }
    }

    /// Sets a field; whether it was set.
    ///
    /// # Safety
    ///
    /// `t` is NULL or a live table.
    unsafe fn set(&self, t: *mut warren_table, name: Text, v: Value) -> bool {
        let (n, nl) = name.pair();
        // SAFETY: as in `apply`.
        let status = unsafe {
            match v {
                Value::Bool(x) => warren_table_set_bool(t, n, nl, x),
                Value::I8(x) => warren_table_set_i8(t, n, nl, x),
                Value::U8(x) => warren_table_set_u8(t, n, nl, x),
                Value::I16(x) => warren_table_set_i16(t, n, nl, x),
                Value::U16(x) => warren_table_set_u16(t, n, nl, x),
                Value::I32(x) => warren_table_set_i32(t, n, nl, x),
                Value::U32(x) => warren_table_set_u32(t, n, nl, x),
                Value::I64(x) => warren_table_set_i64(t, n, nl, x),
                Value::U64(x) => warren_table_set_u64(t, n, nl, x),
                Value::Float(x) => warren_table_set_float(t, n, nl, x),
                Value::Double(x) => warren_table_set_double(t, n, nl, x),
                Value::Decimal(s, x) => warren_table_set_decimal(t, n, nl, s, x),
                Value::Str(s) => {
                    let (p, l) = s.pair();
                    warren_table_set_string(t, n, nl, p, l)
                }
                Value::Bytes(s) => {
                    let (p, l) = s.pair();
                    warren_table_set_bytes(t, n, nl, p, l)
                }
                Value::Timestamp(x) => warren_table_set_timestamp(t, n, nl, x),
                Value::Void => warren_table_set_void(t, n, nl),
                Value::Table(s) => warren_table_set_table(t, n, nl, self.tables[slot(s)]),
                Value::Array(s) => warren_table_set_array(t, n, nl, self.arrays[slot(s)]),
            }
        };
        checked(status, "table_set")
    }

    /// Pushes a value; whether it was pushed.
    ///
    /// # Safety
    ///
    /// `a` is NULL or a live array.
    unsafe fn push(&self, a: *mut warren_array, v: Value) -> bool {
        // SAFETY: as in `apply`.
        let status = unsafe {
            match v {
                Value::Bool(x) => warren_array_push_bool(a, x),
                Value::I8(x) => warren_array_push_i8(a, x),
                Value::U8(x) => warren_array_push_u8(a, x),
                Value::I16(x) => warren_array_push_i16(a, x),
                Value::U16(x) => warren_array_push_u16(a, x),
                Value::I32(x) => warren_array_push_i32(a, x),
                Value::U32(x) => warren_array_push_u32(a, x),
                Value::I64(x) => warren_array_push_i64(a, x),
                Value::U64(x) => warren_array_push_u64(a, x),
                Value::Float(x) => warren_array_push_float(a, x),
                Value::Double(x) => warren_array_push_double(a, x),
                Value::Decimal(s, x) => warren_array_push_decimal(a, s, x),
                Value::Str(s) => {
                    let (p, l) = s.pair();
                    warren_array_push_string(a, p, l)
                }
                Value::Bytes(s) => {
                    let (p, l) = s.pair();
                    warren_array_push_bytes(a, p, l)
                }
                Value::Timestamp(x) => warren_array_push_timestamp(a, x),
                Value::Void => warren_array_push_void(a),
                Value::Table(s) => warren_array_push_table(a, self.tables[slot(s)]),
                Value::Array(s) => warren_array_push_array(a, self.arrays[slot(s)]),
            }
        };
        checked(status, "array_push")
    }

    /// Every accessor of a delivery, its properties view and headers.
    ///
    /// # Safety
    ///
    /// `d` is NULL or a live delivery.
    unsafe fn read_delivery(&self, d: *mut warren_delivery) {
        let accessors = [
            warren_delivery_body,
            warren_delivery_routing_key,
            warren_delivery_exchange,
            warren_delivery_correlation_id,
            warren_delivery_reply_to,
            warren_delivery_content_type,
            warren_delivery_message_id,
            warren_delivery_consumer_tag,
        ];
        // SAFETY: as in `apply`; the views read stay valid until the delivery's free.
        unsafe {
            for f in accessors {
                let (mut p, mut n) = (null(), 0);
                if checked(f(d, &mut p, &mut n), "delivery accessor") && n > 0 {
                    let bytes = std::slice::from_raw_parts(p, n);
                    std::hint::black_box(bytes.iter().map(|&b| u32::from(b)).sum::<u32>());
                }
            }
            warren_delivery_tag(d);
            warren_delivery_redelivered(d);
            warren_delivery_delivery_mode(d);
            warren_delivery_failed_count(d);
            warren_delivery_returned_count(d);
            let mut props = sentinel::<warren_properties>().cast_const();
            let ok = checked(
                warren_delivery_properties(d, &mut props),
                "delivery_properties",
            );
            if ok {
                read_properties(props);
            }
        }
    }
}

fn zero_value() -> warren_value {
    warren_value {
        kind: WARREN_VALUE_VOID,
        boolean: false,
        int_value: 0,
        uint_value: 0,
        float_value: 0.0,
        decimal_scale: 0,
        bytes: null(),
        bytes_len: 0,
        table: null(),
        array: null(),
    }
}

/// Reads every getter of a properties object or view, and walks its headers.
///
/// # Safety
///
/// `p` is NULL, a live properties object or a valid view.
unsafe fn read_properties(p: *const warren_properties) {
    let getters = [
        warren_properties_content_type,
        warren_properties_content_encoding,
        warren_properties_correlation_id,
        warren_properties_reply_to,
        warren_properties_expiration,
        warren_properties_message_id,
        warren_properties_type,
        warren_properties_user_id,
        warren_properties_app_id,
        warren_properties_cluster_id,
    ];
    // SAFETY: `p` is NULL or readable; the outputs are locals.
    unsafe {
        for f in getters {
            let (mut s, mut n) = (null(), 0);
            if checked(f(p, &mut s, &mut n), "properties getter") && !s.is_null() {
                std::hint::black_box(std::slice::from_raw_parts(s, n));
            }
        }
        let (mut set, mut byte, mut ts) = (false, 0u8, 0u64);
        checked(
            warren_properties_delivery_mode(p, &mut set, &mut byte),
            "delivery_mode",
        );
        checked(
            warren_properties_priority(p, &mut set, &mut byte),
            "priority",
        );
        checked(
            warren_properties_timestamp(p, &mut set, &mut ts),
            "timestamp",
        );
        let mut h = null();
        if checked(warren_properties_headers(p, &mut h), "headers") {
            walk_table(h, 0);
        }
    }
}

/// Reads every entry of a table (owned or a view), nested ones included.
///
/// # Safety
///
/// `t` is NULL, a live table or a valid view.
unsafe fn walk_table(t: *const warren_table, depth: usize) {
    assert!(
        depth <= usize::from(u8::MAX),
        "tables nest deeper than any limit"
    );
    // SAFETY: `t` is NULL or readable; outputs are locals; nested views live as long as `t`.
    unsafe {
        for i in 0..warren_table_len(t) {
            let (mut n, mut nl, mut v) = (null(), 0, zero_value());
            assert!(checked(
                warren_table_entry(t, i, &mut n, &mut nl, &mut v),
                "entry"
            ));
            let name = std::slice::from_raw_parts(n, nl);
            assert!(
                std::str::from_utf8(name).is_ok(),
                "a field name that is not UTF-8"
            );
            walk_value(&v, depth);
        }
    }
}

/// # Safety
///
/// `a` is NULL, a live array or a valid view.
unsafe fn walk_array(a: *const warren_array, depth: usize) {
    // SAFETY: as in `walk_table`.
    unsafe {
        for i in 0..warren_array_len(a) {
            let mut v = zero_value();
            assert!(checked(warren_array_get(a, i, &mut v), "array_get"));
            walk_value(&v, depth);
        }
    }
}

/// # Safety
///
/// `v` came from a table or array that is still alive and unchanged.
unsafe fn walk_value(v: &warren_value, depth: usize) {
    // SAFETY: the views in `v` are valid while what it was read from is (# Safety).
    unsafe {
        if v.kind == WARREN_VALUE_TABLE {
            walk_table(v.table, depth + 1);
        } else if v.kind == WARREN_VALUE_ARRAY {
            walk_array(v.array, depth + 1);
        } else if !v.bytes.is_null() && v.bytes_len > 0 {
            std::hint::black_box(std::slice::from_raw_parts(v.bytes, v.bytes_len));
        }
    }
}

/// Runs the operations, then frees everything still held, in an order the input chose by its
/// first byte (any order is allowed).
fn run(ops: &[Op]) {
    let mut world = World::new();
    for &op in ops {
        // SAFETY: the world starts empty and each operation keeps its invariant.
        unsafe { world.apply(op) };
    }
    let first_brokers = ops.len() % 2 == 0;
    if first_brokers {
        for b in &mut world.brokers {
            take(b, warren_broker_free);
        }
    }
    for d in &mut world.deliveries {
        take(d, warren_delivery_free);
    }
    for c in &mut world.consumers {
        take(c, warren_consumer_free);
    }
    for ch in &mut world.channels {
        take(ch, warren_channel_free);
    }
    for c in &mut world.connections {
        take(c, warren_connection_free);
    }
    for b in &mut world.brokers {
        take(b, warren_broker_free);
    }
    for t in &mut world.tables {
        take(t, warren_table_free);
    }
    for a in &mut world.arrays {
        take(a, warren_array_free);
    }
    for p in &mut world.properties {
        take(p, warren_properties_free);
    }
    for o in &mut world.options {
        take(o, warren_broker_options_free);
    }
    for t in &mut world.topics {
        take(t, warren_topic_free);
    }
}

fuzz_target!(|ops: Ops| {
    run(&ops.0);
});
