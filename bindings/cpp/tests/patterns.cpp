// patterns.cpp: the seven patterns of MISSION.md through the C++ wrapper (a shorter mirror of
// tests/c/patterns.c), the features of tests/c/features.c (tables, properties, headers,
// arguments, returns, exchange bindings, recover, options and the manual clock), plus its
// error model, moved-from objects and several threads.
//
// Usage: patterns DATA_DIR  (an empty scratch directory for the durable broker)
// Prints "N passed, M failed" last; exits 0 only when nothing failed.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "warren.hpp"

using namespace std::chrono_literals;
using warren::Broker;
using warren::Channel;
using warren::Consumer;
using warren::Delivery;

namespace {

std::atomic<int> passed{0};
std::atomic<int> failed{0};
std::string data_dir;

bool check(bool ok, const char* file, int line, const char* what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
  }
  return ok;
}
#define CHECK(cond) check(static_cast<bool>(cond), __FILE__, __LINE__, #cond)

// Whether `f` throws warren::Error with `want`.
template <typename F>
bool throws(warren_status want, F f) {
  try {
    f();
  } catch (const warren::Error& e) {
    if (e.status() != want) {
      std::fprintf(stderr, "threw %s (%s), want %s\n", e.status_name(), e.what(),
                   warren_status_name(want));
    }
    return e.status() == want;
  }
  return false;
}

bool body_is(const std::optional<Delivery>& d, std::string_view want) {
  return d && d->body() == want;
}

// Waits up to 10 s for `done()` under `m`, woken by `cv`.
template <typename F>
bool wait_until(std::mutex& m, std::condition_variable& cv, F done) {
  std::unique_lock<std::mutex> lock(m);
  return cv.wait_for(lock, 10s, done);
}

// ----- 1: hello world -----

void test_hello() {
  CHECK(warren::version() == std::to_string(WARREN_VERSION_MAJOR) + "." +
                                 std::to_string(WARREN_VERSION_MINOR) + "." +
                                 std::to_string(WARREN_VERSION_PATCH));
  Broker broker;
  Channel ch = broker.connect().create_channel();  // the channel keeps its connection open
  warren::QueueInfo q = ch.queue_declare("hello");
  CHECK(q.name == "hello" && q.message_count == 0 && q.consumer_count == 0);
  Consumer c = ch.basic_consume("hello", "", /*no_ack=*/true);
  CHECK(ch.basic_publish("", "hello", "Hello World!") == 1);
  std::optional<Delivery> d = c.recv(5s);
  CHECK(body_is(d, "Hello World!"));
  CHECK(d && d->routing_key() == "hello" && d->exchange().empty() && !d->redelivered() &&
        d->tag() == 1 && !d->correlation_id());
  CHECK(!c.recv(0ms));  // a receive that times out is std::nullopt, not an exception
}

// ----- 2: work queues -----

void test_round_robin() {
  Broker broker;
  warren::Connection conn = broker.connect();
  Channel tasks = conn.create_channel();
  Channel ch1 = conn.create_channel();
  Channel ch2 = conn.create_channel();
  tasks.queue_declare("task_queue", WARREN_QUEUE_DURABLE);
  Consumer w1 = ch1.basic_consume("task_queue");
  Consumer w2 = ch2.basic_consume("task_queue");
  const char* names[] = {"First.", "Second..", "Third...", "Fourth....", "Fifth....."};
  warren::Properties persistent;
  persistent.delivery_mode(2);
  for (const char* name : names) {
    tasks.basic_publish("", "task_queue", name, persistent);
  }
  // Worker 1 gets the 1st, 3rd and 5th, worker 2 the 2nd and 4th.
  for (int i = 0; i < 5; i++) {
    std::optional<Delivery> d = (i % 2 == 0 ? w1 : w2).recv(5s);
    CHECK(body_is(d, names[i]) && d->delivery_mode() == 2);
    if (d) d->ack();
  }
  CHECK(!w1.recv(0ms) && !w2.recv(0ms));
}

// Prefetch 1: unacked work comes back, redelivered, when its consumer goes away.
void test_redelivery_when_a_consumer_goes_away() {
  Broker broker;
  warren::Connection conn = broker.connect();
  Channel tasks = conn.create_channel();
  Channel ch_a = conn.create_channel();
  Channel ch_b = conn.create_channel();
  tasks.queue_declare("jobs");
  ch_a.basic_qos(1);
  ch_b.basic_qos(1);
  std::optional<Consumer> a = ch_a.basic_consume("jobs");
  Consumer b = ch_b.basic_consume("jobs");
  tasks.basic_publish("", "jobs", "job 1");
  tasks.basic_publish("", "jobs", "job 2");
  std::optional<Delivery> a1 = a->recv(5s);
  std::optional<Delivery> b2 = b.recv(5s);
  CHECK(body_is(a1, "job 1") && body_is(b2, "job 2"));
  CHECK(!b.recv(0ms));  // prefetch 1: b holds job 2 and gets nothing more
  if (b2) b2->ack();
  a.reset();  // ~Consumer without cancel: a consumer loss
  std::optional<Delivery> again = b.recv(5s);
  CHECK(body_is(again, "job 1") && again->redelivered());
  if (a1) a1->ack();  // a's stale delivery: no error, no effect (SEMANTICS A8)
  if (again) again->ack();
}

// ----- 3, 4, 5: fanout, direct, topic -----

void test_fanout() {
  Broker broker;
  Channel ch = broker.connect().create_channel();
  ch.exchange_declare("logs", warren::ExchangeType::Fanout);
  std::vector<Consumer> subs;
  for (int i = 0; i < 2; i++) {
    std::string q = ch.queue_declare("", WARREN_QUEUE_EXCLUSIVE).name;
    CHECK(q.rfind("amq.gen-", 0) == 0);
    ch.queue_bind(q, "logs");
    subs.push_back(ch.basic_consume(q, "", true));
  }
  CHECK(ch.basic_publish("logs", "", "info: hello") == 2);
  for (Consumer& s : subs) CHECK(body_is(s.recv(5s), "info: hello"));
}

void test_direct() {
  Broker broker;
  Channel ch = broker.connect().create_channel();
  ch.exchange_declare("direct_logs", warren::ExchangeType::Direct);
  std::string q1 = ch.queue_declare("", WARREN_QUEUE_EXCLUSIVE).name;
  std::string q2 = ch.queue_declare("", WARREN_QUEUE_EXCLUSIVE).name;
  ch.queue_bind(q1, "direct_logs", "error");
  for (const char* sev : {"info", "warning", "error"}) ch.queue_bind(q2, "direct_logs", sev);
  CHECK(ch.basic_publish("direct_logs", "error", "disk full") == 2);
  CHECK(ch.basic_publish("direct_logs", "info", "started") == 1);
  CHECK(ch.basic_publish("direct_logs", "debug", "dropped") == 0);
  // Mandatory and unroutable: 312 NO_ROUTE, and the channel stays open.
  try {
    ch.basic_publish("direct_logs", "debug", "dropped", {}, /*mandatory=*/true);
    CHECK(!"a mandatory unroutable publish throws");
  } catch (const warren::Error& e) {
    CHECK(e.status() == WARREN_STATUS_NO_ROUTE && e.reply_code() == 312);
  }
  Consumer c1 = ch.basic_consume(q1, "", true);
  Consumer c2 = ch.basic_consume(q2, "", true);
  CHECK(body_is(c1.recv(5s), "disk full") && !c1.recv(0ms));
  CHECK(body_is(c2.recv(5s), "disk full") && body_is(c2.recv(5s), "started"));
}

void test_topic() {
  Broker broker;
  Channel ch = broker.connect().create_channel();
  ch.exchange_declare("topic_logs", warren::ExchangeType::Topic);
  std::string q1 = ch.queue_declare("", WARREN_QUEUE_EXCLUSIVE).name;
  std::string q2 = ch.queue_declare("", WARREN_QUEUE_EXCLUSIVE).name;
  ch.queue_bind(q1, "topic_logs", "*.orange.*");
  ch.queue_bind(q2, "topic_logs", "*.*.rabbit");
  ch.queue_bind(q2, "topic_logs", "lazy.#");
  struct {
    const char* key;
    std::size_t queues;
  } table[] = {{"quick.orange.rabbit", 2}, {"lazy.orange.elephant", 2}, {"quick.orange.fox", 1},
               {"lazy.brown.fox", 1},      {"lazy.pink.rabbit", 1},     {"quick.brown.fox", 0},
               {"lazy", 1},                {"quick.orange.new.rabbit", 0}};
  for (const auto& row : table) {
    if (!CHECK(ch.basic_publish("topic_logs", row.key, row.key) == row.queues)) {
      std::fprintf(stderr, "  key %s\n", row.key);
    }
  }
  CHECK(ch.queue_purge(q1) == 3 && ch.queue_purge(q2) == 5);

  // The bare matcher.
  warren::TopicMatcher t;
  CHECK(t.bind("*.orange.*", 1) && t.bind("*.*.rabbit", 2) && t.bind("lazy.#", 2));
  CHECK(!t.bind("lazy.#", 2));
  std::vector<std::uint64_t> dests = t.route("lazy.orange.rabbit");
  CHECK(std::set<std::uint64_t>(dests.begin(), dests.end()) == std::set<std::uint64_t>({1, 2}));
  CHECK(t.route("lazy.pink.rabbit") == std::vector<std::uint64_t>{2});
  CHECK(t.unbind("lazy.#", 2) && !t.unbind("lazy.#", 2));
  CHECK(t.route("lazy").empty());
  // Over 16 destinations: the wrapper routes again with the room asked for.
  for (std::uint64_t i = 100; i < 140; i++) t.bind("many.#", i);
  CHECK(t.route("many.x").size() == 40);
  CHECK(throws(WARREN_STATUS_INVALID_UTF8, [&] { t.route("\xff"); }));
}

// ----- 6: RPC -----

unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

void test_rpc() {
  Broker broker;
  Channel server = broker.connect().create_channel();
  Channel client = broker.connect().create_channel();
  server.queue_declare("rpc_queue");
  server.basic_qos(1);
  std::mutex m;
  std::condition_variable cv;
  int served = 0;
  bool ended = false;
  Consumer serving = server.basic_consume("rpc_queue");
  // On the consumer's own thread: reply to reply_to with the request's correlation_id.
  serving.on_delivery([&](std::optional<Delivery> d) {
    if (!d) {
      std::lock_guard<std::mutex> lock(m);
      ended = true;
      cv.notify_all();
      return;
    }
    try {
      std::string reply = std::to_string(fib(std::stoul(std::string(d->body()))));
      warren::Properties props;
      props.correlation_id(d->correlation_id().value_or(""));
      server.basic_publish("", d->reply_to().value_or(""), reply, props);
      d->ack();
      std::lock_guard<std::mutex> lock(m);
      served++;
    } catch (const std::exception& e) {  // a callback must not throw
      CHECK(!"the RPC server failed");
      std::fprintf(stderr, "  %s\n", e.what());
    }
  });
  CHECK(throws(WARREN_STATUS_INVALID_STATE, [&] { serving.recv(0ms); }));

  std::string callback_queue = client.queue_declare("", WARREN_QUEUE_EXCLUSIVE).name;
  Consumer replies = client.basic_consume(callback_queue, "", true);
  const unsigned ns[] = {10, 20, 30};
  for (unsigned n : ns) {
    std::string corr = "req-" + std::to_string(n);
    warren::Properties props;
    props.reply_to(callback_queue).correlation_id(corr);
    CHECK(client.basic_publish("", "rpc_queue", std::to_string(n), props, true) == 1);
  }
  int matched = 0;
  for (int i = 0; i < 3; i++) {
    std::optional<Delivery> d = replies.recv(10s);
    if (!CHECK(d)) break;
    for (unsigned n : ns) {
      if (d->correlation_id() == "req-" + std::to_string(n)) {
        matched += CHECK(d->body() == std::to_string(fib(n)));
      }
    }
  }
  CHECK(matched == 3);
  serving.cancel();  // the callback's last call, with std::nullopt
  CHECK(wait_until(m, cv, [&] { return ended; }));
  CHECK(served == 3);
}

// ----- 7: publisher confirms on a durable broker, then a restart -----

void test_confirms() {
  const std::string dir = data_dir + "/confirms";
  // The callback's state outlives the channel (declared first, destroyed last).
  std::mutex m;
  std::condition_variable cv;
  std::vector<int> outcome(257, 0);  // 0 none, 1 ack, 2 nack
  int reported = 0, twice = 0;
  {
    Broker broker = Broker::open(dir);
    Channel ch = broker.connect().create_channel();
    ch.queue_declare("orders", WARREN_QUEUE_DURABLE);
    CHECK(ch.next_publish_seq_no() == 0);
    ch.on_confirm([&](std::uint64_t seq, bool multiple, bool ack) {
      std::lock_guard<std::mutex> lock(m);
      for (std::uint64_t i = multiple ? 1 : seq; i <= seq && i < outcome.size(); i++) {
        if (outcome[i] != 0) {
          twice += !multiple;
          continue;
        }
        outcome[i] = ack ? 1 : 2;
        reported++;
      }
      cv.notify_all();
    });
    ch.confirm_select();
    CHECK(ch.next_publish_seq_no() == 1);
    warren::Properties persistent;
    persistent.delivery_mode(2);
    // Strategy 1: one at a time.
    for (int i = 0; i < 10; i++) {
      ch.basic_publish("", "orders", "single " + std::to_string(i), persistent);
      ch.wait_for_confirms_or_die(5s);
    }
    CHECK(ch.next_publish_seq_no() == 11);
    // Strategy 2: in batches.
    for (int batch = 0; batch < 3; batch++) {
      for (int i = 0; i < 20; i++) ch.basic_publish("", "orders", "batch", persistent);
      CHECK(ch.wait_for_confirms(5s));
    }
    // Strategy 3: the callback saw every number once, acked.
    CHECK(wait_until(m, cv, [&] { return reported >= 70; }));
    {
      std::lock_guard<std::mutex> lock(m);
      int acked = 0;
      for (int i = 1; i <= 70; i++) acked += outcome[i] == 1;
      CHECK(acked == 70 && reported == 70 && twice == 0);
    }
    broker.close();
    CHECK(throws(WARREN_STATUS_CHANNEL_CLOSED, [&] { ch.basic_publish("", "orders", "late"); }));
  }
  // Reopened: the 70 confirmed persistent messages are there.
  Broker broker = Broker::open(dir);
  Channel ch = broker.connect().create_channel();
  CHECK(ch.queue_declare("orders", WARREN_QUEUE_PASSIVE).message_count == 70);
  std::uint32_t left = 0;
  std::optional<Delivery> first = ch.basic_get("orders", false, &left);
  CHECK(body_is(first, "single 0") && first->delivery_mode() == 2 && left == 69);
  if (first) first->ack();
  // A second broker cannot open a directory in use.
  CHECK(throws(WARREN_STATUS_STORE, [&] { Broker::open(dir); }));
}

// ----- tables, properties, headers, arguments -----

void test_tables() {
  warren::Array tags;
  tags.push_string("a").push_i32(2).push_void();
  warren::Table inner;
  inner.set_bool("deep", true);
  warren::Table t;
  t.set_i8("i8", -1)
      .set_u64("u64", UINT64_MAX)
      .set_double("d", 0.5)
      .set_decimal("dec", 1, 15)
      .set_string("s", "text")
      .set_bytes("b", std::string_view("\0\xff", 2))
      .set_timestamp("ts", 1700000000)
      .set_void("v")
      .set_table("inner", inner)
      .set_array("tags", tags);
  CHECK(t.size() == 10);
  CHECK(t.get("i8") && t.get("i8")->kind() == WARREN_VALUE_I8 && t.get("i8")->raw.int_value == -1);
  CHECK(t.get("u64")->raw.uint_value == UINT64_MAX);
  CHECK(t.get("s")->kind() == WARREN_VALUE_STRING && t.get("s")->bytes() == "text");
  CHECK(t.get("b")->kind() == WARREN_VALUE_BYTES && t.get("b")->bytes().size() == 2);
  CHECK(!t.get("absent"));
  std::optional<warren::Value> nested = t.get("inner");
  CHECK(nested && nested->table().get("deep")->raw.boolean);
  warren::ArrayView arr = t.get("tags")->array();
  CHECK(arr.size() == 3 && arr.at(0).bytes() == "a" && arr.at(1).raw.int_value == 2 &&
        arr.at(2).kind() == WARREN_VALUE_VOID);
  CHECK(t.entry(0).first == "b" && t.entry(9).first == "v");  // name order
  warren::Table copy(nested->table());                        // an owned copy of a view
  CHECK(copy.size() == 1 && copy.remove("deep") && copy.size() == 0);
  CHECK(throws(WARREN_STATUS_INVALID_ARGUMENT, [&] { (void)arr.at(3); }));
  CHECK(throws(WARREN_STATUS_INVALID_UTF8, [&] { t.set_i8("\xff", 1); }));
}

void test_properties_and_headers() {
  Broker broker;
  Channel ch = broker.connect().create_channel();
  ch.exchange_declare("hx", warren::ExchangeType::Headers);
  ch.queue_declare("reports");
  warren::Table terms;
  terms.set_string("x-match", "all").set_string("format", "pdf").set_i8("size", 5);
  ch.queue_bind("reports", "hx", "", terms);
  warren::Table headers;
  headers.set_string("format", "pdf").set_u64("size", 5);  // integer widths are one class
  warren::Properties props;
  props.content_type("application/pdf")
      .content_encoding("identity")
      .headers(headers)
      .delivery_mode(2)
      .priority(3)
      .correlation_id("c")
      .reply_to("r")
      .expiration("60000")
      .message_id("m")
      .timestamp(42)
      .type("report")
      .user_id("guest")
      .app_id("app")
      .cluster_id("");
  CHECK(ch.basic_publish("hx", "", "%PDF", props) == 1);
  props.clear();
  CHECK(ch.basic_publish("hx", "", "no headers", props) == 0);
  std::optional<Delivery> d = ch.basic_get("reports");
  CHECK(body_is(d, "%PDF"));
  if (!d) return;
  warren::PropertiesView p = d->properties();
  CHECK(p.content_type() == "application/pdf" && p.content_encoding() == "identity");
  CHECK(p.delivery_mode() == 2 && p.priority() == 3 && p.timestamp() == 42u);
  CHECK(p.correlation_id() == "c" && p.reply_to() == "r" && p.expiration() == "60000");
  CHECK(p.message_id() == "m" && p.type() == "report" && p.user_id() == "guest");
  CHECK(p.app_id() == "app" && p.cluster_id() == "");
  std::optional<warren::TableView> h = p.headers();
  CHECK(h && h->size() == 2 && h->get("format")->bytes() == "pdf");
  CHECK(!d->consumer_tag() && d->failed_count() == 0 && d->returned_count() == 0);
  // Republish with the delivery's own properties (a view).
  ch.queue_declare("copies");
  CHECK(ch.basic_publish("", "copies", "again", d->properties()) == 1);
  d->ack();
  std::optional<Delivery> again = ch.basic_get("copies", true);
  CHECK(again && again->properties().message_id() == "m");
}

void test_arguments_returns_and_recover() {
  Broker broker;
  Channel ch = broker.connect().create_channel();
  warren::Table ae;
  ae.set_string("alternate-exchange", "spill");
  ch.exchange_declare("main", warren::ExchangeType::Direct, 0, ae);
  ch.exchange_declare("spill", warren::ExchangeType::Fanout);
  ch.exchange_declare("feed", warren::ExchangeType::Topic);
  ch.queue_declare("spilled");
  ch.queue_bind("spilled", "spill");
  ch.exchange_bind("main", "feed", "x.#");  // feed -> main -> (no binding) -> spill
  CHECK(ch.basic_publish("feed", "x.y", "via feed") == 1);
  ch.exchange_unbind("main", "feed", "x.#");
  CHECK(ch.basic_publish("feed", "x.y", "nowhere") == 0);

  std::vector<std::string> returned;
  ch.on_return([&](const warren::ReturnedMessage& r) {
    returned.push_back(std::to_string(r.reply_code) + " " + std::string(r.reply_text) + " " +
                       std::string(r.routing_key) + " " + std::string(r.body) + " " +
                       std::string(r.properties.message_id().value_or("-")));
  });
  warren::Properties props;
  props.message_id("m1");
  CHECK(throws(WARREN_STATUS_NO_ROUTE, [&] { ch.basic_publish("feed", "k", "lost", props, true); }));
  CHECK(returned == std::vector<std::string>{"312 NO_ROUTE k lost m1"});

  // basic_recover: the unacked delivery comes back, returned count 1.
  Consumer c = ch.basic_consume("spilled");
  std::optional<Delivery> first = c.recv(5s);
  CHECK(body_is(first, "via feed") && first->consumer_tag() == c.tag());
  ch.basic_recover();
  std::optional<Delivery> second = c.recv(5s);
  CHECK(body_is(second, "via feed") && second->redelivered() && second->returned_count() == 1);
  if (second) second->ack();
}

void test_options_and_clock() {
  warren::BrokerOptions options;
  options.manual_clock(1000).max_message_size(1024);
  Broker broker(options);
  Channel ch = broker.connect().create_channel();
  ch.queue_declare("slow");
  warren::Table args;
  args.set_i64("x-consumer-timeout", 10);
  Consumer c = ch.basic_consume("slow", "", false, false, args);
  ch.basic_publish("", "slow", "work");
  std::optional<Delivery> d = c.recv(5s);
  CHECK(body_is(d, "work"));
  broker.advance_clock(20ms);  // the timeout fires inside this call
  CHECK(throws(WARREN_STATUS_CANCELLED, [&] { c.recv(1s); }));
  Consumer again = ch.basic_consume("slow");
  std::optional<Delivery> back = again.recv(5s);
  CHECK(body_is(back, "work") && back->returned_count() == 1);
  if (back) back->ack();
  CHECK(throws(WARREN_STATUS_PRECONDITION_FAILED,
               [&] { ch.basic_publish("", "slow", std::string(1025, 'x')); }));
  Broker system_clock;
  CHECK(throws(WARREN_STATUS_INVALID_STATE, [&] { system_clock.advance_clock(1ms); }));
}

// ----- errors and moved-from objects -----

void test_errors() {
  Broker broker;
  Channel ch = broker.connect().create_channel();
  try {
    ch.queue_declare("missing", WARREN_QUEUE_PASSIVE);
    CHECK(!"a passive declare of a missing queue throws");
  } catch (const warren::Error& e) {
    CHECK(e.status() == WARREN_STATUS_NOT_FOUND && e.reply_code() == 404);
    CHECK(std::strstr(e.what(), "missing") != nullptr);
    CHECK(std::string(e.status_name()) == "WARREN_STATUS_NOT_FOUND");
  }
  // The 404 closed the channel: later calls say so, with the cause.
  try {
    ch.basic_qos(1);
    CHECK(!"a call on a closed channel throws");
  } catch (const warren::Error& e) {
    CHECK(e.status() == WARREN_STATUS_CHANNEL_CLOSED && e.reply_code() == 0);
    CHECK(std::strstr(e.what(), "404") != nullptr);
  }
  Channel other = broker.connect().create_channel();
  CHECK(throws(WARREN_STATUS_NOT_FOUND, [&] { other.basic_get("missing"); }));
  Channel third = broker.connect().create_channel();
  third.queue_declare("empty");
  CHECK(!third.basic_get("empty"));  // an empty queue is std::nullopt, not an exception
  CHECK(throws(WARREN_STATUS_TOO_LONG, [&] { third.queue_declare(std::string(256, 'q')); }));
  CHECK(throws(WARREN_STATUS_INVALID_UTF8, [&] { third.queue_declare("\xc3\x28"); }));
}

void test_moved_from() {
  Broker broker;
  Broker moved(std::move(broker));
  CHECK(!broker && moved);
  CHECK(throws(WARREN_STATUS_NULL_ARGUMENT, [&] { broker.connect(); }));
  warren::Connection conn = moved.connect();
  Channel ch = conn.create_channel();
  ch.queue_declare("q");
  Channel ch2(std::move(ch));
  CHECK(!ch && ch2);
  CHECK(throws(WARREN_STATUS_NULL_ARGUMENT, [&] { ch.basic_publish("", "q", "x"); }));
  CHECK(ch.next_publish_seq_no() == 0);
  ch2.basic_publish("", "q", "one");
  ch2.basic_publish("", "q", "two");

  Consumer c = ch2.basic_consume("q");
  std::optional<Delivery> d = c.recv(5s);
  CHECK(body_is(d, "one"));
  Delivery taken(std::move(*d));
  CHECK(!*d && taken && taken.body() == "one");
  CHECK(throws(WARREN_STATUS_NULL_ARGUMENT, [&] { d->ack(); }));
  CHECK(throws(WARREN_STATUS_NULL_ARGUMENT, [&] { (void)d->body(); }));
  CHECK(d->tag() == 0 && !d->redelivered());
  taken.ack();

  Consumer c2(std::move(c));
  CHECK(!c && c2 && !c2.tag().empty());
  CHECK(throws(WARREN_STATUS_NULL_ARGUMENT, [&] { c.recv(0ms); }));
  std::optional<Delivery> two = c2.recv(5s);
  CHECK(body_is(two, "two"));
  if (two) two->ack();

  // Move-assigning over a live object frees what it held; self-move keeps it.
  Channel ch3 = conn.create_channel();
  ch3 = conn.create_channel();
  ch3 = std::move(ch3);
  CHECK(ch3 && ch3.queue_declare("q", WARREN_QUEUE_PASSIVE).consumer_count == 1);
  Consumer with_cb = ch3.basic_consume("q", "cb");
  with_cb.on_delivery([](std::optional<Delivery>) {});
  with_cb = std::move(c2);  // frees the callback consumer, then its callback
  CHECK(with_cb && !c2);
  warren::TopicMatcher t;
  warren::TopicMatcher t2(std::move(t));
  CHECK(!t && t2);
  CHECK(throws(WARREN_STATUS_NULL_ARGUMENT, [&] { t.bind("a", 1); }));
  // Every moved-from object above is destroyed here, empty.
}

// ----- several threads at once, each on its own connection and channel -----

void test_threads() {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  Broker broker;
  Channel ch = broker.connect().create_channel();
  ch.queue_declare("mt");
  ch.basic_qos(50);
  Consumer c = ch.basic_consume("mt");
  std::atomic<int> publish_failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&broker, &publish_failures, t] {
      try {
        Channel mine = broker.connect().create_channel();
        for (int i = 0; i < kPerThread; i++) {
          if (mine.basic_publish("", "mt", std::to_string(t) + " " + std::to_string(i)) != 1) {
            ++publish_failures;
          }
        }
      } catch (const warren::Error& e) {
        ++publish_failures;
        std::fprintf(stderr, "publisher %d: %s\n", t, e.what());
      }
    });
  }
  int got = 0, dup = 0, out_of_order = 0;
  std::vector<std::vector<bool>> seen(kThreads, std::vector<bool>(kPerThread));
  std::vector<int> next(kThreads, 0);
  while (got < kThreads * kPerThread) {
    std::optional<Delivery> d = c.recv(10s);
    if (!CHECK(d)) break;
    int t = -1, i = -1;
    if (std::sscanf(std::string(d->body()).c_str(), "%d %d", &t, &i) == 2 && t >= 0 &&
        t < kThreads && i >= 0 && i < kPerThread) {
      dup += seen[t][i];
      seen[t][i] = true;
      out_of_order += i != next[t];
      next[t] = i + 1;
    }
    d->ack();
    got++;
  }
  for (std::thread& th : threads) th.join();
  CHECK(got == kThreads * kPerThread && dup == 0 && out_of_order == 0 && publish_failures == 0);
}

void run(const char* name, void (*test)()) {
  try {
    test();
  } catch (const warren::Error& e) {
    CHECK(!"no uncaught warren::Error");
    std::fprintf(stderr, "  %s: %s: %s\n", name, e.status_name(), e.what());
  } catch (const std::exception& e) {
    CHECK(!"no uncaught exception");
    std::fprintf(stderr, "  %s: %s\n", name, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  data_dir = argv[1];
  run("hello", test_hello);
  run("round_robin", test_round_robin);
  run("redelivery", test_redelivery_when_a_consumer_goes_away);
  run("fanout", test_fanout);
  run("direct", test_direct);
  run("topic", test_topic);
  run("rpc", test_rpc);
  run("confirms", test_confirms);
  run("tables", test_tables);
  run("properties_and_headers", test_properties_and_headers);
  run("arguments_returns_and_recover", test_arguments_returns_and_recover);
  run("options_and_clock", test_options_and_clock);
  run("errors", test_errors);
  run("moved_from", test_moved_from);
  run("threads", test_threads);
  std::printf("%d passed, %d failed\n", passed.load(), failed.load());
  return failed == 0 ? 0 : 1;
}
