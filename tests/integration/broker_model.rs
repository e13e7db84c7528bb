//! The broker against the reference broker of `tests/model/broker.rs` (STYLE 11): random
//! sequences of declare, bind, publish, consume, qos, ack / nack / reject, cancel, consumer
//! loss, recover, get, purge, delete and channel close over a small universe, compared after
//! every operation (SEMANTICS E, Q, P, D, A, F; `tests/model/broker_ops.rs` says what is
//! compared and how).

use crate::model::broker_ops::{self, Op};
use proptest::prelude::*;

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (any::<u8>(), any::<[u8; 4]>()).prop_map(|(kind, args)| Op::decode(kind, args)),
        0..broker_ops::MAX_OPS,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_model(ops in ops()) {
        if let Err(e) = broker_ops::run(&ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

// The model itself, on cases worked out by hand from SEMANTICS, so that the comparison above
// rests on a model that is right and not merely in step with the engine.

use crate::model::broker::{Broker as Model, Delivered, Ended, Event, ModelError, Published};

fn deliveries(m: &mut Model, c: usize) -> Vec<(u64, u64, bool)> {
    m.take_events()
        .into_iter()
        .filter(|&(to, _)| to == c)
        .filter_map(|(_, e)| match e {
            Event::Delivery(d) => Some((d.tag, d.msg, d.redelivered)),
            Event::Ended(_) => None,
        })
        .collect()
}

/// SEMANTICS D1, D3: a consumer out of credit leaves the rotation when its turn finds it so
/// (RabbitMQ's classic queues) and rejoins at the back once an ack gives credit back.
#[test]
fn model_d1_rotation_with_prefetch() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "q", false).unwrap();
    m.basic_qos(ch, 1, false).unwrap();
    let a = m.basic_consume(ch, "q", "a", false, false).unwrap();
    m.basic_qos(ch, 0, false).unwrap();
    let b = m.basic_consume(ch, "q", "b", false, false).unwrap();
    for id in 0..4 {
        assert_eq!(m.publish(ch, "", "q", false, id), Ok(Published::Routed(1)));
    }
    let events = m.take_events();
    let to = |c: usize| -> Vec<u64> {
        events
            .iter()
            .filter(|&&(to, _)| to == c)
            .filter_map(|(_, e)| match e {
                Event::Delivery(d) => Some(d.msg),
                Event::Ended(_) => None,
            })
            .collect()
    };
    assert_eq!((to(a), to(b)), (vec![0], vec![1, 2, 3]));
    m.basic_ack(ch, 1, false).unwrap();
    m.publish(ch, "", "q", false, 4).unwrap();
    m.publish(ch, "", "q", false, 5).unwrap();
    let events = m.take_events();
    let got: Vec<(usize, u64)> = events
        .iter()
        .filter_map(|&(c, e)| match e {
            Event::Delivery(d) => Some((c, d.msg)),
            Event::Ended(_) => None,
        })
        .collect();
    assert_eq!(got, [(b, 4), (a, 5)]);
}

/// SEMANTICS A5, A10, D9: requeued messages regain their places, redelivered, `returned` + 1
/// per nack.
#[test]
fn model_a5_requeue_keeps_place() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "q", false).unwrap();
    for id in 0..3 {
        m.publish(ch, "", "q", false, id).unwrap();
    }
    let first = m.basic_get(ch, "q", false).unwrap().unwrap();
    let second = m.basic_get(ch, "q", false).unwrap().unwrap();
    assert_eq!(
        (first.delivery.tag, second.delivery.tag, second.left),
        (1, 2, 1)
    );
    m.basic_nack(ch, 2, false, true).unwrap();
    m.basic_nack(ch, 1, false, true).unwrap();
    let again = m.basic_get(ch, "q", true).unwrap().unwrap();
    assert_eq!(
        again.delivery,
        Delivered {
            tag: 3,
            msg: 0,
            redelivered: true,
            failed: 0,
            returned: 1
        }
    );
    assert_eq!(m.queue_counts("q"), Some((2, 0)));
}

/// SEMANTICS A3, A7, A10, F2, F5: an unknown tag is a 406 that closes the channel; its unacked
/// deliveries go back with `failed` + 1, its consumers end; later calls repeat the code.
#[test]
fn model_a3_unknown_tag_closes_the_channel() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "q", false).unwrap();
    let c = m.basic_consume(ch, "q", "c", false, false).unwrap();
    m.publish(ch, "", "q", false, 7).unwrap();
    m.basic_reject(ch, 1, true).unwrap();
    assert_eq!(deliveries(&mut m, c), [(1, 7, false), (2, 7, true)]);
    assert_eq!(m.basic_ack(ch, 9, false), Err(ModelError::Amqp(406)));
    assert_eq!(
        m.take_events(),
        [(c, Event::Ended(Ended::ChannelClosed(Some(406))))]
    );
    assert_eq!(
        m.publish(ch, "", "q", false, 8),
        Err(ModelError::ChannelClosed(Some(406)))
    );
    let other = m.open_channel();
    let got = m.basic_get(other, "q", true).unwrap().unwrap();
    assert_eq!((got.delivery.failed, got.delivery.returned), (2, 0));
}

/// SEMANTICS D4, Q5: a global prefetch caps the channel's consumers together; an auto-delete
/// queue goes with its last consumer, and settling its deliveries later changes nothing.
#[test]
fn model_d4_global_prefetch_and_q5_auto_delete() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "a", true).unwrap();
    m.queue_declare(ch, "b", false).unwrap();
    m.basic_qos(ch, 1, true).unwrap();
    let ca = m.basic_consume(ch, "a", "ca", false, false).unwrap();
    let cb = m.basic_consume(ch, "b", "cb", false, false).unwrap();
    m.publish(ch, "", "a", false, 0).unwrap();
    m.publish(ch, "", "b", false, 1).unwrap();
    assert_eq!(deliveries(&mut m, ca), [(1, 0, false)]);
    assert_eq!(m.queue_counts("b"), Some((1, 1)));
    m.basic_cancel(ch, "ca").unwrap();
    assert_eq!(m.queue_counts("a"), None);
    m.basic_nack(ch, 1, false, true).unwrap();
    assert_eq!(deliveries(&mut m, cb), [(2, 1, false)]);
}
