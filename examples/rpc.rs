//! RabbitMQ tutorial 6, "RPC": `rpc_server` answers Fibonacci requests from `rpc_queue`;
//! `rpc_client` sends each request with `reply_to` (its exclusive callback queue) and a fresh
//! `correlation_id`, and waits for the reply carrying that id.
//!
//! ```text
//! cargo run --example rpc
//! ```

use std::thread;
use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use warren::message::FieldTable;
use warren::{BasicProperties, Broker, Channel, Connection, Consumer, Error};

/// The tutorial's (deliberately slow, recursive) Fibonacci.
fn fib(n: u64) -> u64 {
    match n {
        0 => 0,
        1 => 1,
        n => fib(n - 1) + fib(n - 2),
    }
}

/// rpc_server: one request at a time (prefetch 1), acknowledged once answered. Returns when
/// its connection closes.
fn rpc_server(channel: Channel, requests: Consumer) -> Result<(), Error> {
    println!(" [x] Awaiting RPC requests");
    for request in &requests {
        let n: u64 = String::from_utf8_lossy(request.body()).parse().unwrap_or(0);
        println!(" [.] fib({n})");
        let props = request.properties();
        if let Some(reply_to) = &props.reply_to {
            let mut reply = BasicProperties::default();
            reply.correlation_id = props.correlation_id.clone();
            channel.basic_publish(
                "",
                reply_to,
                BasicPublishOptions::default(),
                fib(n).to_string(),
                reply,
            )?;
        }
        request.ack()?;
    }
    Ok(())
}

/// rpc_client: an exclusive server-named callback queue, consumed with auto-ack.
struct FibonacciRpcClient {
    channel: Channel,
    callback_queue: String,
    replies: Consumer,
    next_id: u64,
}

impl FibonacciRpcClient {
    fn new(connection: &Connection) -> Result<Self, Error> {
        let channel = connection.create_channel()?;
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        let callback_queue = channel
            .queue_declare("", exclusive, &FieldTable::new())?
            .name;
        let auto_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let replies = channel.basic_consume(&callback_queue, "", auto_ack, &FieldTable::new())?;
        Ok(FibonacciRpcClient {
            channel,
            callback_queue,
            replies,
            next_id: 0,
        })
    }

    /// Sends `n` to `rpc_queue` and waits for the reply with this request's correlation id.
    fn call(&mut self, n: u64) -> Result<u64, Error> {
        self.next_id += 1;
        let correlation_id = format!("fib-{}", self.next_id);
        self.channel.basic_publish(
            "",
            "rpc_queue",
            BasicPublishOptions::default(),
            n.to_string(),
            BasicProperties::default()
                .with_reply_to(self.callback_queue.clone())
                .with_correlation_id(correlation_id.clone()),
        )?;
        loop {
            let reply = self.replies.recv()?;
            // A reply to an earlier request (say, one that timed out) is ignored.
            if reply.properties().correlation_id.as_ref() == Some(&correlation_id) {
                return Ok(String::from_utf8_lossy(reply.body()).parse().unwrap_or(0));
            }
        }
    }
}

fn main() -> Result<(), Error> {
    let broker = Broker::new();

    // rpc_server: declare the queue and start consuming before the client sends.
    let server_connection = broker.connect();
    let channel = server_connection.create_channel()?;
    channel.queue_declare(
        "rpc_queue",
        QueueDeclareOptions::default(),
        &FieldTable::new(),
    )?;
    channel.basic_qos(1, BasicQosOptions::default())?;
    let requests = channel.basic_consume(
        "rpc_queue",
        "",
        BasicConsumeOptions::default(),
        &FieldTable::new(),
    )?;
    let server = thread::spawn(move || rpc_server(channel, requests));

    // rpc_client
    let mut client = FibonacciRpcClient::new(&broker.connect())?;
    for n in [1, 10, 30] {
        println!(" [x] Requesting fib({n})");
        let answer = client.call(n)?;
        println!(" [.] Got {answer}");
    }

    server_connection.close();
    server.join().expect("the server does not panic")
}
