use warren::broker::*;
use warren::message::FieldTable;
use warren::{BasicProperties, Broker};
use std::time::Duration;

#[test]
fn smoke_work_queue_prefetch_redelivery() {
    let b = Broker::new();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    ch.queue_declare("task", QueueDeclareOptions { durable: true, ..Default::default() }, &FieldTable::new()).unwrap();
    let w1 = conn.create_channel().unwrap();
    w1.basic_qos(1, BasicQosOptions::default()).unwrap();
    let c1 = w1.basic_consume("task", "", BasicConsumeOptions::default(), &FieldTable::new()).unwrap();
    let w2 = conn.create_channel().unwrap();
    w2.basic_qos(1, BasicQosOptions::default()).unwrap();
    let c2 = w2.basic_consume("task", "", BasicConsumeOptions::default(), &FieldTable::new()).unwrap();
    for i in 0..4 {
        let r = ch.basic_publish("", "task", BasicPublishOptions::default(), format!("m{i}").into_bytes(), BasicProperties::default().persistent()).unwrap();
        assert!(r.is_routed());
    }
    let d1 = c1.recv_timeout(Duration::from_secs(1)).unwrap().unwrap();
    let d2 = c2.recv_timeout(Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(d1.body(), b"m0");
    assert_eq!(d2.body(), b"m1");
    assert!(c1.try_recv().unwrap().is_none());
    assert_eq!(d1.delivery_tag().get(), 1);
    d1.ack().unwrap();
    let d3 = c1.recv_timeout(Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(d3.body(), b"m2");
    // worker 2 goes away without acking
    drop(c2);
    w2.close();
    d3.ack().unwrap();
    let d4 = c1.recv_timeout(Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(d4.body(), b"m1");
    assert!(d4.redelivered());
    d4.ack().unwrap();
    let d5 = c1.recv_timeout(Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(d5.body(), b"m3");
    assert!(!d5.redelivered());
    let err = w1.basic_ack(warren::DeliveryTag::new(99), BasicAckOptions::default()).unwrap_err();
    assert_eq!(err.reply_code(), Some(406));
    assert!(!w1.is_open());
    let again = w1.basic_qos(1, BasicQosOptions::default()).unwrap_err();
    assert_eq!(again.kind(), warren::ErrorKind::ChannelClosed);
    assert_eq!(again.reply_code(), Some(406));
    // d5 went back to the queue when the channel closed
    assert_eq!(b.queue_counts("task"), Some((1, 0)));
}
