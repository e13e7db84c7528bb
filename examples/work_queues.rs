//! RabbitMQ tutorial 2, "Work queues": `new_task` puts tasks in the durable queue
//! `task_queue`; two `worker`s share them. Each worker takes one task at a time (prefetch 1)
//! and acknowledges it when done, so a busy worker gets no new task and a task whose worker
//! dies is given to another one.
//!
//! A task's dots say how long it takes (here 100 ms a dot, the tutorial's seconds scaled down).
//!
//! ```text
//! cargo run --example work_queues
//! ```

use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use warren::message::FieldTable;
use warren::{BasicProperties, Broker, Connection, Error};

const TASKS: [&str; 5] = [
    "First message.",
    "Second message..",
    "Third message...",
    "Fourth message....",
    "Fifth message.....",
];

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// worker: takes one task at a time from `task_queue`, does it, acknowledges it and reports
/// it on `done`. Returns when its connection closes.
fn worker(id: u32, connection: Connection, done: mpsc::Sender<()>) -> Result<(), Error> {
    let channel = connection.create_channel()?;
    channel.queue_declare("task_queue", durable(), &FieldTable::new())?;
    channel.basic_qos(1, BasicQosOptions::default())?;
    let consumer = channel.basic_consume(
        "task_queue",
        "",
        BasicConsumeOptions::default(), // manual acknowledgement
        &FieldTable::new(),
    )?;
    println!(" [*] Worker {id} waiting for messages.");
    for delivery in &consumer {
        let task = String::from_utf8_lossy(delivery.body());
        println!(" [x] Worker {id} received '{task}'");
        for _dot in task.matches('.') {
            thread::sleep(Duration::from_millis(100));
        }
        println!(" [x] Worker {id} done");
        delivery.ack()?;
        let _ = done.send(());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let broker = Broker::new();

    let (done_tx, done_rx) = mpsc::channel();
    let mut workers = Vec::new();
    for id in 1..=2 {
        let connection = broker.connect();
        let done = done_tx.clone();
        let worker_connection = connection.clone();
        workers.push((
            connection,
            thread::spawn(move || worker(id, worker_connection, done)),
        ));
    }

    // new_task: persistent messages in a durable queue.
    let channel = broker.connect().create_channel()?;
    channel.queue_declare("task_queue", durable(), &FieldTable::new())?;
    for task in TASKS {
        channel.basic_publish(
            "",
            "task_queue",
            BasicPublishOptions::default(),
            task,
            BasicProperties::default().persistent(),
        )?;
        println!(" [x] Sent '{task}'");
    }

    // Wait until every task is acknowledged, then stop the workers (their Ctrl-C).
    for _ in TASKS {
        done_rx.recv().expect("the workers are running");
    }
    for (connection, thread) in workers {
        connection.close();
        thread.join().expect("the worker does not panic")?;
    }
    Ok(())
}
