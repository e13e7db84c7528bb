//! RabbitMQ tutorial 3, "Publish/Subscribe": `emit_log` publishes to the fanout exchange
//! `logs`; each `receive_logs` binds its own exclusive, server-named queue to it and gets a
//! copy of every message.
//!
//! ```text
//! cargo run --example publish_subscribe
//! ```

use std::thread::{self, JoinHandle};
use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::{BasicProperties, Broker, Connection, Error};

/// receive_logs: binds a fresh queue to `logs` now, then prints what arrives on a thread
/// until `connection` closes.
fn receive_logs(id: u32, connection: &Connection) -> Result<JoinHandle<()>, Error> {
    let no_args = FieldTable::new();
    let channel = connection.create_channel()?;
    channel.exchange_declare(
        "logs",
        ExchangeType::Fanout,
        ExchangeDeclareOptions::default(),
        &no_args,
    )?;
    // "" asks for a server-named queue (`amq.gen-…`); exclusive: deleted with the connection.
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", exclusive, &no_args)?.name;
    channel.queue_bind(&queue, "logs", "", &no_args)?;
    let auto_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let consumer = channel.basic_consume(&queue, "", auto_ack, &no_args)?;
    println!(" [*] Subscriber {id} waiting for logs on {queue}.");
    Ok(thread::spawn(move || {
        for delivery in &consumer {
            println!(
                " [x] Subscriber {id}: {}",
                String::from_utf8_lossy(delivery.body())
            );
        }
    }))
}

fn main() -> Result<(), Error> {
    let broker = Broker::new();

    // Subscribe first: a fanout exchange with no queue bound drops what it gets.
    let subscribers = [broker.connect(), broker.connect()];
    let mut threads = Vec::new();
    for (id, connection) in (1..).zip(&subscribers) {
        threads.push(receive_logs(id, connection)?);
    }

    // emit_log
    let channel = broker.connect().create_channel()?;
    channel.exchange_declare(
        "logs",
        ExchangeType::Fanout,
        ExchangeDeclareOptions::default(),
        &FieldTable::new(),
    )?;
    for message in [
        "info: Hello World!",
        "warning: disk almost full",
        "error: disk full",
    ] {
        // A fanout exchange ignores the routing key.
        channel.basic_publish(
            "logs",
            "",
            BasicPublishOptions::default(),
            message,
            BasicProperties::default(),
        )?;
        println!(" [x] Sent {message}");
    }

    // Stop the subscribers: each prints what it already received, then its loop ends.
    for connection in &subscribers {
        connection.close();
    }
    for thread in threads {
        thread.join().expect("the subscriber does not panic");
    }
    Ok(())
}
