//! `Consumer` as an async `Stream` (feature `stream`), the `RpcClient` helper (SEMANTICS R3)
//! and route explain.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;
use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, HopTarget,
    QueueDeclareOptions, RpcClient,
};
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::{BasicProperties, Broker, Consumer, Delivery, ErrorKind, Scope};

fn no_args() -> FieldTable {
    FieldTable::new()
}

async fn next(consumer: &mut Consumer) -> Option<Result<Delivery, warren::Error>> {
    poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *consumer), cx)).await
}

fn stream_scenario(rt: tokio::runtime::Runtime) {
    let broker = Broker::new();
    let ch = broker.connect().create_channel().unwrap();
    ch.queue_declare("s", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    let mut consumer = ch
        .basic_consume("s", "", BasicConsumeOptions::default(), &no_args())
        .unwrap();
    let publisher = {
        let ch = ch.clone();
        std::thread::spawn(move || {
            for i in 0..100u32 {
                ch.basic_publish(
                    "",
                    "s",
                    BasicPublishOptions::default(),
                    i.to_be_bytes().to_vec(),
                    BasicProperties::default(),
                )
                .unwrap();
            }
        })
    };
    let got = rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < 100 {
            let d = next(&mut consumer).await.unwrap().unwrap();
            got.push(u32::from_be_bytes(d.body().try_into().unwrap()));
            d.ack().unwrap();
        }
        got
    });
    publisher.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    // The stream ends after the consumer is cancelled.
    consumer.cancel().unwrap();
    let end = rt.block_on(async { next(&mut consumer).await });
    assert_eq!(
        end.unwrap().unwrap_err().kind(),
        ErrorKind::ConsumerCancelled
    );
    assert!(rt.block_on(async { next(&mut consumer).await }).is_none());
}

#[test]
fn stream_on_current_thread_runtime() {
    stream_scenario(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
}

#[test]
fn stream_on_multi_thread_runtime() {
    stream_scenario(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
}

/// A server thread answering `count` requests on `queue` with the request body reversed.
fn serve(broker: &Broker, queue: &str, count: usize) -> std::thread::JoinHandle<()> {
    let ch = broker.connect().create_channel().unwrap();
    ch.queue_declare(queue, QueueDeclareOptions::default(), &no_args())
        .unwrap();
    ch.basic_qos(1, Default::default()).unwrap();
    let requests = ch
        .basic_consume(queue, "", BasicConsumeOptions::default(), &no_args())
        .unwrap();
    std::thread::spawn(move || {
        for _ in 0..count {
            let req = requests.recv().unwrap();
            let props = req.properties();
            let mut body = req.body().to_vec();
            body.reverse();
            let reply = BasicProperties::default()
                .with_correlation_id(props.correlation_id.clone().unwrap());
            ch.basic_publish(
                "",
                props.reply_to.as_deref().unwrap(),
                BasicPublishOptions::default(),
                body,
                reply,
            )
            .unwrap();
            req.ack().unwrap();
        }
    })
}

#[test]
fn r3_rpc_client_matches_replies_by_correlation_id() {
    let broker = Broker::new();
    let server = serve(&broker, "rpc_queue", 20);
    let ch = broker.connect().create_channel().unwrap();
    let mut client = RpcClient::new(&ch).unwrap();
    assert!(client.reply_to().starts_with("amq.gen-"));
    for i in 0..10 {
        let reply = client
            .call("", "rpc_queue", format!("abc{i}"), Duration::from_secs(10))
            .unwrap();
        assert_eq!(reply.body(), format!("{i}cba").as_bytes());
    }
    // A stray reply with an unknown id is discarded and counted.
    ch.basic_publish(
        "",
        client.reply_to(),
        BasicPublishOptions::default(),
        "stray",
        BasicProperties::default().with_correlation_id("nobody"),
    )
    .unwrap();
    let reply = client
        .call("", "rpc_queue", "xy", Duration::from_secs(10))
        .unwrap();
    assert_eq!(reply.body(), b"yx");
    assert_eq!(client.unknown_replies(), 1);
    let mut direct =
        RpcClient::with_direct_reply_to(&broker.connect().create_channel().unwrap()).unwrap();
    for _ in 0..9 {
        let reply = direct
            .call("", "rpc_queue", "direct", Duration::from_secs(10))
            .unwrap();
        assert_eq!(reply.body(), b"tcerid");
    }
    server.join().unwrap();
}

#[test]
fn r3_rpc_client_times_out_and_is_cancellable() {
    let broker = Broker::new();
    let ch = broker.connect().create_channel().unwrap();
    ch.queue_declare("silent", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    let mut client = RpcClient::new(&ch).unwrap();
    let err = client
        .call("", "silent", "x", Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.scope(), Scope::Local);
    let cancel = client.canceller();
    let t = std::thread::spawn(move || {
        client
            .call("", "silent", "y", Duration::from_secs(3600))
            .unwrap_err()
    });
    cancel.cancel();
    let err = t.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled);
    // A request no queue takes fails at once with 312, closing nothing.
    let mut client = RpcClient::new(&ch).unwrap();
    let err = client
        .call("", "nobody-home", "z", Duration::from_secs(3600))
        .unwrap_err();
    assert_eq!(err.reply_code(), Some(312));
    assert_eq!(err.scope(), Scope::Local);
    assert!(ch.is_open());
}

#[test]
fn explain_reports_hops_alternates_and_reasons_without_side_effects() {
    let broker = Broker::new();
    let ch = broker.connect().create_channel().unwrap();
    let decl = ExchangeDeclareOptions::default();
    ch.exchange_declare("ae", ExchangeType::Fanout, decl, &no_args())
        .unwrap();
    ch.exchange_declare(
        "logs",
        ExchangeType::Topic,
        decl,
        &FieldTable::new().with("alternate-exchange", "ae"),
    )
    .unwrap();
    ch.exchange_declare("inner", ExchangeType::Direct, decl, &no_args())
        .unwrap();
    for q in ["a", "b", "unrouted"] {
        ch.queue_declare(q, QueueDeclareOptions::default(), &no_args())
            .unwrap();
    }
    ch.queue_bind("a", "logs", "kern.*", &no_args()).unwrap();
    ch.queue_bind("a", "logs", "*.crit", &no_args()).unwrap();
    ch.exchange_bind("inner", "logs", "#", &no_args()).unwrap();
    ch.queue_bind("b", "inner", "kern.crit", &no_args())
        .unwrap();
    ch.queue_bind("unrouted", "ae", "", &no_args()).unwrap();

    let ex = broker.explain("logs", "kern.crit", None).unwrap();
    assert_eq!(ex.queues, ["a", "b"], "{ex}");
    let to_a = ex
        .hops
        .iter()
        .find(|h| h.to == HopTarget::Queue("a".into()))
        .unwrap();
    let mut keys = to_a.binding_keys.clone().unwrap();
    keys.sort();
    assert_eq!(keys, ["*.crit", "kern.*"]);
    assert!(ex
        .hops
        .iter()
        .any(|h| h.exchange == "logs" && h.to == HopTarget::Exchange("inner".into())));

    // Nothing matches in `logs` except the `#` hop into `inner`, which routes nowhere: no
    // alternate (the exchange did match a binding), no queue.
    let ex = broker.explain("logs", "user.info", None).unwrap();
    assert!(ex.queues.is_empty());
    assert!(ex.unroutable.is_some(), "{ex}");

    ch.exchange_unbind("inner", "logs", "#", &no_args())
        .unwrap();
    let ex = broker.explain("logs", "user.info", None).unwrap();
    assert_eq!(ex.queues, ["unrouted"], "{ex}");
    assert_eq!(ex.hops[0].binding_keys, None, "an alternate hop");

    let err = broker.explain("missing", "k", None).unwrap_err();
    assert_eq!(err.reply_code(), Some(404));
    // No side effect: nothing was enqueued, nothing counted.
    assert_eq!(broker.queue_counts("unrouted"), Some((0, 0)));
    assert_eq!(broker.unroutable_count(), 0);
    assert!(ch.is_open());
}
