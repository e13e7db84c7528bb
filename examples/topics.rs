//! RabbitMQ tutorial 5, "Topics": `emit_log_topic` publishes to the topic exchange
//! `topic_logs`; each `receive_logs_topic` binds its queue with patterns, where `*` stands for
//! exactly one word and `#` for zero or more words. Q1 binds `*.orange.*`; Q2 binds
//! `*.*.rabbit` and `lazy.#`.
//!
//! `lazy.pink.rabbit` matches both of Q2's patterns but reaches Q2 once; `quick.brown.fox`,
//! `orange` and `quick.orange.new.rabbit` match nothing and are dropped; `lazy` reaches Q2
//! because `#` also matches zero words (as in RabbitMQ).
//!
//! ```text
//! cargo run --example topics
//! ```

use std::thread::{self, JoinHandle};
use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::{BasicProperties, Broker, Channel, Connection, Error};

fn declare_exchange(channel: &Channel) -> Result<(), Error> {
    channel.exchange_declare(
        "topic_logs",
        ExchangeType::Topic,
        ExchangeDeclareOptions::default(),
        &FieldTable::new(),
    )
}

/// receive_logs_topic: binds a fresh exclusive queue with each of `patterns` now, then prints
/// what arrives on a thread until `connection` closes.
fn receive_logs_topic(
    name: &'static str,
    connection: &Connection,
    patterns: &[&str],
) -> Result<JoinHandle<()>, Error> {
    let no_args = FieldTable::new();
    let channel = connection.create_channel()?;
    declare_exchange(&channel)?;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", exclusive, &no_args)?.name;
    for pattern in patterns {
        channel.queue_bind(&queue, "topic_logs", pattern, &no_args)?;
    }
    let auto_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let consumer = channel.basic_consume(&queue, "", auto_ack, &no_args)?;
    println!(" [*] {name} waiting for {patterns:?}.");
    Ok(thread::spawn(move || {
        for delivery in &consumer {
            println!(
                " [x] {name} got {}:{}",
                delivery.routing_key(),
                String::from_utf8_lossy(delivery.body())
            );
        }
    }))
}

fn main() -> Result<(), Error> {
    let broker = Broker::new();

    let subscribers = [broker.connect(), broker.connect()];
    let threads = [
        receive_logs_topic("Q1", &subscribers[0], &["*.orange.*"])?,
        receive_logs_topic("Q2", &subscribers[1], &["*.*.rabbit", "lazy.#"])?,
    ];

    // emit_log_topic
    let channel = broker.connect().create_channel()?;
    declare_exchange(&channel)?;
    for key in [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "orange",
        "quick.orange.new.rabbit",
        "lazy.orange.new.rabbit",
        "lazy",
    ] {
        let message = format!("news about {key}");
        channel.basic_publish(
            "topic_logs",
            key,
            BasicPublishOptions::default(),
            message.clone(),
            BasicProperties::default(),
        )?;
        println!(" [x] Sent {key}:{message}");
    }

    for connection in &subscribers {
        connection.close();
    }
    for thread in threads {
        thread.join().expect("the subscriber does not panic");
    }
    Ok(())
}
