//! RabbitMQ tutorial 1, "Hello World!": a producer (`send`) puts one message in queue `hello`
//! and a consumer (`receive`) prints it. Both sides run in this process, each on its own
//! connection, as two programs would.
//!
//! ```text
//! cargo run --example hello_world
//! ```

use std::thread;
use warren::broker::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use warren::message::FieldTable;
use warren::{BasicProperties, Broker, Error};

fn main() -> Result<(), Error> {
    let broker = Broker::new();
    let no_args = FieldTable::new();

    // receive: declare the queue (declaring is idempotent, so both sides do it) and consume
    // it with automatic acknowledgement.
    let channel = broker.connect().create_channel()?;
    channel.queue_declare("hello", QueueDeclareOptions::default(), &no_args)?;
    let auto_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let consumer = channel.basic_consume("hello", "", auto_ack, &no_args)?;
    println!(" [*] Waiting for messages.");
    let receiver = thread::spawn(move || -> Result<(), Error> {
        let delivery = consumer.recv()?;
        println!(
            " [x] Received '{}'",
            String::from_utf8_lossy(delivery.body())
        );
        Ok(())
    });

    // send: publish to the default exchange, which routes by queue name.
    let channel = broker.connect().create_channel()?;
    channel.queue_declare("hello", QueueDeclareOptions::default(), &no_args)?;
    channel.basic_publish(
        "",
        "hello",
        BasicPublishOptions::default(),
        "Hello World!",
        BasicProperties::default(),
    )?;
    println!(" [x] Sent 'Hello World!'");

    receiver.join().expect("the receiver does not panic")
}
