//! RabbitMQ tutorial 4, "Routing": `emit_log_direct` publishes to the direct exchange
//! `direct_logs` with the severity as routing key; each `receive_logs_direct` binds its queue
//! with the severities it wants. Here one subscriber wants errors only (the tutorial's "save
//! to disk"), the other info, warning and error; nobody asked for debug.
//!
//! ```text
//! cargo run --example routing
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
        "direct_logs",
        ExchangeType::Direct,
        ExchangeDeclareOptions::default(),
        &FieldTable::new(),
    )
}

/// receive_logs_direct: binds a fresh exclusive queue once per severity now, then prints
/// what arrives on a thread until `connection` closes.
fn receive_logs_direct(
    name: &'static str,
    connection: &Connection,
    severities: &[&str],
) -> Result<JoinHandle<()>, Error> {
    let no_args = FieldTable::new();
    let channel = connection.create_channel()?;
    declare_exchange(&channel)?;
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", exclusive, &no_args)?.name;
    for severity in severities {
        channel.queue_bind(&queue, "direct_logs", severity, &no_args)?;
    }
    let auto_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let consumer = channel.basic_consume(&queue, "", auto_ack, &no_args)?;
    println!(" [*] {name} waiting for {severities:?} logs.");
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
        receive_logs_direct("errors-only", &subscribers[0], &["error"])?,
        receive_logs_direct("console", &subscribers[1], &["info", "warning", "error"])?,
    ];

    // emit_log_direct
    let channel = broker.connect().create_channel()?;
    declare_exchange(&channel)?;
    for (severity, message) in [
        ("info", "Run. Run. Or it will explode."),
        ("warning", "It is getting hot."),
        ("error", "Run. Run. It exploded."),
        ("debug", "Nobody will see this."),
    ] {
        channel.basic_publish(
            "direct_logs",
            severity,
            BasicPublishOptions::default(),
            message,
            BasicProperties::default(),
        )?;
        println!(" [x] Sent {severity}:{message}");
    }

    for connection in &subscribers {
        connection.close();
    }
    for thread in threads {
        thread.join().expect("the subscriber does not panic");
    }
    Ok(())
}
