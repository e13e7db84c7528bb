/*
 * patterns.c: the seven patterns of the user's notes (MISSION.md) through the C API, mirroring
 * the Rust scenarios of tests/integration/tutorials.rs and durability.rs, plus several
 * threads calling in at once.
 *
 * Usage: patterns DATA_DIR  (an empty scratch directory for the durable brokers)
 * Prints "N passed, M failed" last; exits 0 only when nothing failed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static const char *data_dir;

/* ----- helpers ----- */

static warren_channel *open_channel(warren_broker *broker, warren_connection **conn_out) {
  warren_connection *conn = NULL;
  warren_channel *ch = NULL;
  REQUIRE_OK(warren_broker_connect(broker, &conn), NULL);
  REQUIRE_OK(warren_connection_create_channel(conn, &ch), NULL);
  if (conn_out) {
    *conn_out = conn;
  } else {
    warren_connection_free(conn); /* the channel keeps it open */
  }
  return ch;
}

static int publish(warren_channel *ch, const char *exchange, const char *key, const char *body,
                   const warren_properties *props, size_t *queues) {
  enum warren_status st = warren_channel_basic_publish(ch, STR(exchange), STR(key),
                                                       STR(body), props, false, queues);
  EXPECT(st, WARREN_STATUS_OK);
  return st == WARREN_STATUS_OK;
}

static size_t routed(warren_channel *ch, const char *exchange, const char *key,
                     const char *body) {
  size_t queues = 999;
  publish(ch, exchange, key, body, NULL, &queues);
  return queues;
}

/* The next delivery within `ms`, or NULL (counted as a failure). */
static warren_delivery *recv_one(warren_consumer *c, uint64_t ms) {
  warren_delivery *d = NULL;
  REQUIRE_OK(warren_consumer_recv(c, ms, &d), NULL);
  return d;
}

/* Whether nothing is waiting for `c` (a receive with timeout 0 times out). */
static int nothing_waiting(warren_consumer *c) {
  warren_delivery *d = NULL;
  enum warren_status st = warren_consumer_recv(c, 0, &d);
  if (st == WARREN_STATUS_OK) {
    warren_delivery_free(d);
  }
  return st == WARREN_STATUS_TIMEOUT && d == NULL;
}

static int body_is(const warren_delivery *d, const char *want) {
  const uint8_t *ptr = NULL;
  size_t len = 0;
  return d && warren_delivery_body(d, &ptr, &len) == WARREN_STATUS_OK &&
         bytes_eq(ptr, len, want);
}

/* A properties object with delivery_mode 2 (persistent), or NULL (counted as a failure);
 * the caller frees it. */
static warren_properties *persistent_properties(void) {
  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p), NULL);
  EXPECT(warren_properties_set_delivery_mode(p, 2), WARREN_STATUS_OK);
  return p;
}

static warren_consumer *consume(warren_channel *ch, const char *queue, bool no_ack) {
  warren_consumer *c = NULL;
  REQUIRE_OK(warren_channel_basic_consume(ch, STR(queue), NULL, 0, no_ack, false, NULL, &c), NULL);
  return c;
}

/* Declares a server-named exclusive queue; its name goes to `name` (NUL-terminated). */
static int declare_temp_queue(warren_channel *ch, char name[WARREN_MAX_NAME_LEN + 1]) {
  size_t len = 0;
  REQUIRE_OK(warren_channel_queue_declare(ch, NULL, 0, WARREN_QUEUE_EXCLUSIVE, NULL,
                                          (uint8_t *)name,
                                          WARREN_MAX_NAME_LEN, &len, NULL, NULL),
             0);
  name[len] = '\0';
  return CHECK(strncmp(name, "amq.gen-", 8) == 0);
}

/* ----- version ----- */

static void test_version(void) {
  char macros[64];
  snprintf(macros, sizeof macros, "%d.%d.%d", WARREN_VERSION_MAJOR, WARREN_VERSION_MINOR,
           WARREN_VERSION_PATCH);
  CHECK(strcmp(macros, warren_version()) == 0);
}

/* ----- 1: hello world ----- */

static void test_hello(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  uint32_t messages = 99, consumers = 99;
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("hello"), 0, NULL, NULL, 0, NULL, &messages,
                                          &consumers));
  CHECK(messages == 0 && consumers == 0);
  warren_consumer *c = consume(ch, "hello", true);
  REQUIRE(c != NULL);
  CHECK(routed(ch, "", "hello", "Hello World!") == 1);
  warren_delivery *d = recv_one(c, 5000);
  CHECK(body_is(d, "Hello World!"));
  const uint8_t *p;
  size_t n;
  EXPECT(warren_delivery_routing_key(d, &p, &n), WARREN_STATUS_OK);
  CHECK(bytes_eq(p, n, "hello"));
  EXPECT(warren_delivery_exchange(d, &p, &n), WARREN_STATUS_OK);
  CHECK(n == 0);
  CHECK(!warren_delivery_redelivered(d));
  CHECK(warren_delivery_tag(d) == 1);
  warren_delivery_free(d);
  warren_consumer_free(c);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- 2: work queues ----- */

static void test_round_robin(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *tasks = open_channel(broker, NULL);
  warren_channel *ch1 = open_channel(broker, NULL);
  warren_channel *ch2 = open_channel(broker, NULL);
  REQUIRE(tasks && ch1 && ch2);
  REQUIRE_OK(warren_channel_queue_declare(tasks, STR("task_queue"), WARREN_QUEUE_DURABLE, NULL,
                                          NULL,
                                          0, NULL, NULL, NULL));
  warren_consumer *w1 = consume(ch1, "task_queue", false);
  warren_consumer *w2 = consume(ch2, "task_queue", false);
  REQUIRE(w1 && w2);
  const char *names[] = {"First message.", "Second message..", "Third message...",
                         "Fourth....", "Fifth....."};
  warren_properties *persistent = persistent_properties();
  REQUIRE(persistent != NULL);
  for (int i = 0; i < 5; i++) {
    publish(tasks, "", "task_queue", names[i], persistent, NULL);
  }
  warren_properties_free(persistent); /* a publish copies what it needs */
  /* The tutorial's output: worker 1 gets the 1st, 3rd and 5th, worker 2 the 2nd and 4th. */
  for (int i = 0; i < 5; i++) {
    warren_delivery *d = recv_one(i % 2 == 0 ? w1 : w2, 5000);
    CHECK(body_is(d, names[i]));
    CHECK(warren_delivery_delivery_mode(d) == 2);
    EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
    warren_delivery_free(d);
  }
  CHECK(nothing_waiting(w1) && nothing_waiting(w2));
  warren_consumer_free(w1);
  warren_consumer_free(w2);
  warren_channel_free(ch1);
  warren_channel_free(ch2);
  warren_channel_free(tasks);
  warren_broker_free(broker);
}

static void test_fair_dispatch_prefetch_1(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *tasks = open_channel(broker, NULL);
  warren_channel *busy_ch = open_channel(broker, NULL);
  warren_channel *quick_ch = open_channel(broker, NULL);
  REQUIRE(tasks && busy_ch && quick_ch);
  REQUIRE_OK(warren_channel_queue_declare(tasks, STR("task_queue"), WARREN_QUEUE_DURABLE, NULL,
                                          NULL,
                                          0, NULL, NULL, NULL));
  REQUIRE_OK(warren_channel_basic_qos(busy_ch, 1, false));
  REQUIRE_OK(warren_channel_basic_qos(quick_ch, 1, false));
  warren_consumer *busy = consume(busy_ch, "task_queue", false);
  warren_consumer *quick = consume(quick_ch, "task_queue", false);
  REQUIRE(busy && quick);
  char body[32];
  for (int i = 0; i < 4; i++) {
    snprintf(body, sizeof body, "task %d", i);
    publish(tasks, "", "task_queue", body, NULL, NULL);
  }
  /* The busy worker holds task 0 and is given nothing more while it does. */
  warren_delivery *held = recv_one(busy, 5000);
  CHECK(body_is(held, "task 0"));
  for (int i = 1; i < 4; i++) {
    snprintf(body, sizeof body, "task %d", i);
    warren_delivery *d = recv_one(quick, 5000);
    CHECK(body_is(d, body));
    CHECK(nothing_waiting(busy));
    EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
    warren_delivery_free(d);
  }
  EXPECT(warren_delivery_ack(held), WARREN_STATUS_OK);
  warren_delivery_free(held);
  warren_consumer_free(busy);
  warren_consumer_free(quick);
  warren_channel_free(busy_ch);
  warren_channel_free(quick_ch);
  warren_channel_free(tasks);
  warren_broker_free(broker);
}

/* Unacked work comes back, `redelivered`, when its consumer goes away (freed without cancel)
 * and when its channel closes (SEMANTICS A7). */
static void test_redelivery_when_a_consumer_goes_away(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *tasks = open_channel(broker, NULL);
  warren_channel *ch_a = open_channel(broker, NULL);
  warren_channel *ch_b = open_channel(broker, NULL);
  REQUIRE(tasks && ch_a && ch_b);
  REQUIRE_OK(warren_channel_queue_declare(tasks, STR("jobs"), 0, NULL, NULL, 0, NULL, NULL, NULL));
  REQUIRE_OK(warren_channel_basic_qos(ch_a, 1, false));
  REQUIRE_OK(warren_channel_basic_qos(ch_b, 1, false));
  warren_consumer *a = consume(ch_a, "jobs", false);
  warren_consumer *b = consume(ch_b, "jobs", false);
  REQUIRE(a && b);
  publish(tasks, "", "jobs", "job 1", NULL, NULL);
  publish(tasks, "", "jobs", "job 2", NULL, NULL);
  warren_delivery *a1 = recv_one(a, 5000);
  warren_delivery *b2 = recv_one(b, 5000);
  CHECK(body_is(a1, "job 1") && body_is(b2, "job 2"));
  EXPECT(warren_delivery_ack(b2), WARREN_STATUS_OK);
  warren_delivery_free(b2);

  /* Consumer a goes away without acking job 1: b gets it, redelivered. */
  warren_consumer_free(a);
  warren_delivery *again = recv_one(b, 5000);
  CHECK(body_is(again, "job 1"));
  CHECK(warren_delivery_redelivered(again));
  /* a's stale tag: settling it changes nothing and is no error (SEMANTICS A8). */
  EXPECT(warren_delivery_ack(a1), WARREN_STATUS_OK);
  warren_delivery_free(a1);
  EXPECT(warren_delivery_ack(again), WARREN_STATUS_OK);
  warren_delivery_free(again);

  /* A consumer whose channel closes: its unacked job comes back too. */
  warren_channel *ch_c = open_channel(broker, NULL);
  REQUIRE(ch_c != NULL);
  warren_consumer *c = consume(ch_c, "jobs", false);
  REQUIRE(c != NULL);
  /* b (prefetch 1) and c share jobs 3 and 4, one each, in turn. */
  publish(tasks, "", "jobs", "job 3", NULL, NULL);
  publish(tasks, "", "jobs", "job 4", NULL, NULL);
  warren_delivery *x = recv_one(b, 5000);
  warren_delivery *y = recv_one(c, 5000);
  REQUIRE(x && y);
  const uint8_t *yb;
  size_t yn;
  EXPECT(warren_delivery_body(y, &yb, &yn), WARREN_STATUS_OK);
  char y_body[16] = {0};
  memcpy(y_body, yb, yn < 15 ? yn : 15);
  EXPECT(warren_delivery_ack(x), WARREN_STATUS_OK);
  warren_delivery_free(x);
  EXPECT(warren_channel_close(ch_c), WARREN_STATUS_OK);
  warren_delivery *back = recv_one(b, 5000);
  CHECK(body_is(back, y_body));
  CHECK(warren_delivery_redelivered(back));
  EXPECT(warren_delivery_ack(back), WARREN_STATUS_OK);
  warren_delivery_free(back);
  /* The closed channel's delivery can no longer be settled. */
  EXPECT(warren_delivery_ack(y), WARREN_STATUS_CHANNEL_CLOSED);
  warren_delivery_free(y);
  warren_consumer_free(c);
  warren_channel_free(ch_c);

  warren_consumer_free(b);
  warren_channel_free(ch_a);
  warren_channel_free(ch_b);
  warren_channel_free(tasks);
  warren_broker_free(broker);
}

struct self_freeing {
  warren_consumer *consumer;
  pthread_mutex_t lock;
  pthread_cond_t done_cv;
  int done;
  int got_job;
};

/* A callback that takes one delivery, does not ack it, and frees its own consumer: the
 * consumer's thread ends after this returns, and the job goes back to the queue. */
static void take_one_and_quit(void *userdata, warren_delivery *d) {
  struct self_freeing *s = userdata;
  if (d == NULL) return; /* not reached: freeing the consumer makes no last call */
  int job = body_is(d, "job 5");
  warren_delivery_free(d);
  warren_consumer_free(s->consumer);
  pthread_mutex_lock(&s->lock);
  s->got_job = job;
  s->done = 1;
  pthread_cond_signal(&s->done_cv);
  pthread_mutex_unlock(&s->lock);
}

/* A consumer freed from inside its own callback is a consumer loss too. */
static void test_redelivery_when_a_callback_consumer_goes_away(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker, NULL);
  warren_channel *other = open_channel(broker, NULL);
  REQUIRE(ch && other);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("jobs"), 0, NULL, NULL, 0, NULL, NULL, NULL));
  struct self_freeing s = {.consumer = consume(ch, "jobs", false)};
  REQUIRE(s.consumer != NULL);
  pthread_mutex_init(&s.lock, NULL);
  pthread_cond_init(&s.done_cv, NULL);
  REQUIRE_OK(warren_consumer_set_callback(s.consumer, take_one_and_quit, &s));
  warren_delivery *refused = NULL;
  EXPECT(warren_consumer_recv(s.consumer, 0, &refused), WARREN_STATUS_INVALID_STATE);
  publish(ch, "", "jobs", "job 5", NULL, NULL);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&s.lock);
  while (!s.done) {
    if (pthread_cond_timedwait(&s.done_cv, &s.lock, &deadline) != 0) break;
  }
  int done = s.done, got_job = s.got_job;
  pthread_mutex_unlock(&s.lock);
  CHECK(done && got_job);
  warren_consumer *c = consume(other, "jobs", false);
  REQUIRE(c != NULL);
  warren_delivery *d = recv_one(c, 10000);
  CHECK(body_is(d, "job 5"));
  CHECK(warren_delivery_redelivered(d));
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  warren_consumer_free(c);
  warren_channel_free(other);
  warren_channel_free(ch);
  warren_broker_free(broker);
  pthread_mutex_destroy(&s.lock);
  pthread_cond_destroy(&s.done_cv);
}

/* ----- 3: publish/subscribe ----- */

static void test_fanout(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *emit = open_channel(broker, NULL);
  REQUIRE(emit != NULL);
  REQUIRE_OK(warren_channel_exchange_declare(emit, STR("logs"), WARREN_EXCHANGE_TYPE_FANOUT, 0,
                                             NULL));
  warren_channel *subs[2];
  warren_consumer *cons[2];
  for (int i = 0; i < 2; i++) {
    subs[i] = open_channel(broker, NULL);
    REQUIRE(subs[i] != NULL);
    REQUIRE_OK(warren_channel_exchange_declare(subs[i], STR("logs"),
                                               WARREN_EXCHANGE_TYPE_FANOUT, 0, NULL));
    char queue[WARREN_MAX_NAME_LEN + 1];
    REQUIRE(declare_temp_queue(subs[i], queue));
    REQUIRE_OK(warren_channel_queue_bind(subs[i], STR(queue), STR("logs"), NULL, 0, NULL));
    cons[i] = consume(subs[i], queue, true);
    REQUIRE(cons[i] != NULL);
  }
  CHECK(routed(emit, "logs", "", "info: hello") == 2);
  for (int i = 0; i < 2; i++) {
    warren_delivery *d = recv_one(cons[i], 5000);
    CHECK(body_is(d, "info: hello"));
    warren_delivery_free(d);
    warren_consumer_free(cons[i]);
    warren_channel_free(subs[i]);
  }
  /* The subscribers' exclusive queues went with their connections: nothing is bound. */
  CHECK(routed(emit, "logs", "", "nobody") == 0);
  warren_channel_free(emit);
  warren_broker_free(broker);
}

/* ----- 4: routing ----- */

static void test_direct(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("direct_logs"),
                                             WARREN_EXCHANGE_TYPE_DIRECT, 0, NULL));
  char q1[WARREN_MAX_NAME_LEN + 1], q2[WARREN_MAX_NAME_LEN + 1];
  REQUIRE(declare_temp_queue(ch, q1) && declare_temp_queue(ch, q2));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR(q1), STR("direct_logs"), STR("error"), NULL));
  const char *all[] = {"info", "warning", "error"};
  for (int i = 0; i < 3; i++) {
    REQUIRE_OK(warren_channel_queue_bind(ch, STR(q2), STR("direct_logs"), STR(all[i]), NULL));
  }
  warren_consumer *c1 = consume(ch, q1, true);
  warren_consumer *c2 = consume(ch, q2, true);
  REQUIRE(c1 && c2);
  CHECK(routed(ch, "direct_logs", "error", "disk full") == 2);
  CHECK(routed(ch, "direct_logs", "info", "started") == 1);
  CHECK(routed(ch, "direct_logs", "debug", "dropped") == 0);
  /* Mandatory and unroutable: 312, returned, and nothing closes. */
  EXPECT(warren_channel_basic_publish(ch, STR("direct_logs"), STR("debug"), STR("x"), NULL, true,
                                      NULL),
         WARREN_STATUS_NO_ROUTE);
  CHECK(warren_status_reply_code(WARREN_STATUS_NO_ROUTE) == 312);
  warren_delivery *d = recv_one(c1, 5000);
  CHECK(body_is(d, "disk full"));
  warren_delivery_free(d);
  CHECK(nothing_waiting(c1));
  d = recv_one(c2, 5000);
  CHECK(body_is(d, "disk full"));
  warren_delivery_free(d);
  d = recv_one(c2, 5000);
  CHECK(body_is(d, "started"));
  warren_delivery_free(d);
  CHECK(nothing_waiting(c2));
  warren_consumer_free(c1);
  warren_consumer_free(c2);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- 5: topics ----- */

static void test_topic_exchange(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("topic_logs"), WARREN_EXCHANGE_TYPE_TOPIC,
                                             0, NULL));
  char q1[WARREN_MAX_NAME_LEN + 1], q2[WARREN_MAX_NAME_LEN + 1];
  REQUIRE(declare_temp_queue(ch, q1) && declare_temp_queue(ch, q2));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR(q1), STR("topic_logs"), STR("*.orange.*"), NULL));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR(q2), STR("topic_logs"), STR("*.*.rabbit"), NULL));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR(q2), STR("topic_logs"), STR("lazy.#"), NULL));
  /* Tutorial 5's table, and `#` matching zero words (SEMANTICS T3). */
  struct {
    const char *key;
    size_t queues;
  } table[] = {
      {"quick.orange.rabbit", 2}, {"lazy.orange.elephant", 2}, {"quick.orange.fox", 1},
      {"lazy.brown.fox", 1},      {"lazy.pink.rabbit", 1},     {"quick.brown.fox", 0},
      {"orange", 0},              {"quick.orange.male.rabbit", 0},
      {"lazy.orange.male.rabbit", 1}, {"lazy", 1},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    size_t got = routed(ch, "topic_logs", table[i].key, table[i].key);
    if (!CHECK(got == table[i].queues)) {
      fprintf(stderr, "  key %s: %zu queues, want %zu\n", table[i].key, got, table[i].queues);
    }
  }
  uint32_t count = 0;
  EXPECT(warren_channel_queue_purge(ch, STR(q2), &count), WARREN_STATUS_OK);
  CHECK(count == 6);
  EXPECT(warren_channel_queue_delete(ch, STR(q1), WARREN_QUEUE_IF_UNUSED, &count),
         WARREN_STATUS_OK);
  CHECK(count == 3);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

static void test_topic_matcher(void) {
  warren_topic *t = NULL;
  REQUIRE_OK(warren_topic_new(&t));
  bool added = false;
  REQUIRE_OK(warren_topic_bind(t, STR("*.orange.*"), 1, &added));
  CHECK(added);
  REQUIRE_OK(warren_topic_bind(t, STR("*.*.rabbit"), 2, NULL));
  REQUIRE_OK(warren_topic_bind(t, STR("lazy.#"), 2, &added));
  CHECK(added);
  REQUIRE_OK(warren_topic_bind(t, STR("lazy.#"), 2, &added));
  CHECK(!added);
  uint64_t dests[4];
  size_t n = 0;
  REQUIRE_OK(warren_topic_route(t, STR("quick.orange.rabbit"), dests, 4, &n));
  CHECK(n == 2 && dests[0] + dests[1] == 3);
  REQUIRE_OK(warren_topic_route(t, STR("lazy"), dests, 4, &n));
  CHECK(n == 1 && dests[0] == 2);
  /* Too little room: the count needed, nothing written. */
  dests[0] = 77;
  n = 0;
  EXPECT(warren_topic_route(t, STR("lazy.orange.x"), dests, 1, &n),
         WARREN_STATUS_BUFFER_TOO_SMALL);
  CHECK(n == 2 && dests[0] == 77);
  bool removed = false;
  REQUIRE_OK(warren_topic_unbind(t, STR("lazy.#"), 2, &removed));
  CHECK(removed);
  REQUIRE_OK(warren_topic_route(t, STR("lazy"), dests, 4, &n));
  CHECK(n == 0);
  warren_topic_free(t);
}

/* ----- 6: RPC ----- */

static unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

struct rpc_server {
  warren_channel *ch;
  atomic_int served;
  pthread_mutex_t lock;
  pthread_cond_t ended_cv;
  int ended;
};

/* The server's callback, on the consumer's own thread: reply to `reply_to` with the request's
 * `correlation_id`, then ack. */
static void rpc_serve(void *userdata, warren_delivery *d) {
  struct rpc_server *s = userdata;
  if (d == NULL) {
    pthread_mutex_lock(&s->lock);
    s->ended = 1;
    pthread_cond_signal(&s->ended_cv);
    pthread_mutex_unlock(&s->lock);
    return;
  }
  const uint8_t *body, *reply_to, *corr;
  size_t body_len, reply_to_len, corr_len;
  EXPECT(warren_delivery_body(d, &body, &body_len), WARREN_STATUS_OK);
  EXPECT(warren_delivery_reply_to(d, &reply_to, &reply_to_len), WARREN_STATUS_OK);
  EXPECT(warren_delivery_correlation_id(d, &corr, &corr_len), WARREN_STATUS_OK);
  char request[16] = {0};
  memcpy(request, body, body_len < 15 ? body_len : 15);
  char reply[32];
  snprintf(reply, sizeof reply, "%lu", fib((unsigned)atoi(request)));
  warren_properties *props = NULL;
  EXPECT(warren_properties_new(&props), WARREN_STATUS_OK);
  /* corr is borrowed from the delivery (valid until its free); the setter copies it. */
  EXPECT(warren_properties_set_correlation_id(props, corr, corr_len), WARREN_STATUS_OK);
  EXPECT(warren_channel_basic_publish(s->ch, NULL, 0, reply_to, reply_to_len, STR(reply), props,
                                      false, NULL),
         WARREN_STATUS_OK);
  warren_properties_free(props);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  atomic_fetch_add(&s->served, 1);
}

static void test_rpc(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  struct rpc_server server = {.ch = open_channel(broker, NULL)};
  pthread_mutex_init(&server.lock, NULL);
  pthread_cond_init(&server.ended_cv, NULL);
  warren_channel *client = open_channel(broker, NULL);
  REQUIRE(server.ch && client);
  REQUIRE_OK(warren_channel_queue_declare(server.ch, STR("rpc_queue"), 0, NULL, NULL, 0, NULL, NULL,
                                          NULL));
  REQUIRE_OK(warren_channel_basic_qos(server.ch, 1, false));
  warren_consumer *serving = consume(server.ch, "rpc_queue", false);
  REQUIRE(serving != NULL);
  REQUIRE_OK(warren_consumer_set_callback(serving, rpc_serve, &server));

  char callback_queue[WARREN_MAX_NAME_LEN + 1];
  REQUIRE(declare_temp_queue(client, callback_queue));
  warren_consumer *replies = consume(client, callback_queue, true);
  REQUIRE(replies != NULL);
  unsigned ns[] = {10, 20, 30};
  warren_properties *props = NULL;
  REQUIRE_OK(warren_properties_new(&props));
  REQUIRE_OK(warren_properties_set_reply_to(props, STR(callback_queue)));
  for (int i = 0; i < 3; i++) {
    char corr[16], body[16];
    snprintf(corr, sizeof corr, "req-%u", ns[i]);
    snprintf(body, sizeof body, "%u", ns[i]);
    /* One object for every request: each publish reads it during the call only. */
    EXPECT(warren_properties_set_correlation_id(props, STR(corr)), WARREN_STATUS_OK);
    size_t queues = 0;
    EXPECT(warren_channel_basic_publish(client, NULL, 0, STR("rpc_queue"), STR(body), props, true,
                                        &queues),
           WARREN_STATUS_OK);
    CHECK(queues == 1);
  }
  warren_properties_free(props);
  /* Match each reply to its request by correlation id. */
  int matched = 0;
  for (int i = 0; i < 3; i++) {
    warren_delivery *d = recv_one(replies, 10000);
    if (!d) break;
    const uint8_t *corr;
    size_t corr_len;
    EXPECT(warren_delivery_correlation_id(d, &corr, &corr_len), WARREN_STATUS_OK);
    for (int j = 0; j < 3; j++) {
      char want_corr[16], want_body[32];
      snprintf(want_corr, sizeof want_corr, "req-%u", ns[j]);
      snprintf(want_body, sizeof want_body, "%lu", fib(ns[j]));
      if (bytes_eq(corr, corr_len, want_corr)) {
        matched += CHECK(body_is(d, want_body));
      }
    }
    warren_delivery_free(d);
  }
  CHECK(matched == 3);
  CHECK(atomic_load(&server.served) == 3);

  /* Cancelling the consumer ends its thread with a last call with NULL. */
  EXPECT(warren_consumer_cancel(serving), WARREN_STATUS_OK);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&server.lock);
  while (!server.ended) {
    if (pthread_cond_timedwait(&server.ended_cv, &server.lock, &deadline) != 0) break;
  }
  int ended = server.ended;
  pthread_mutex_unlock(&server.lock);
  CHECK(ended);
  warren_consumer_free(serving);
  warren_consumer_free(replies);
  warren_channel_free(client);
  warren_channel_free(server.ch);
  warren_broker_free(broker);
  pthread_mutex_destroy(&server.lock);
  pthread_cond_destroy(&server.ended_cv);
}

/* ----- 7: publisher confirms, on a durable broker ----- */

#define CONFIRMED_MAX 256

struct confirm_log {
  pthread_mutex_t lock;
  pthread_cond_t reported_cv;
  unsigned char outcome[CONFIRMED_MAX + 1]; /* 0 none, 1 ack, 2 nack */
  int reported;                             /* numbers with an outcome */
  int reported_twice;
};

/* The confirm callback: on the publishing thread or the store's. */
static void on_confirm(void *userdata, uint64_t seq, bool multiple, bool ack) {
  struct confirm_log *log = userdata;
  pthread_mutex_lock(&log->lock);
  if (seq > CONFIRMED_MAX) {
    log->reported_twice++;
  } else if (multiple) {
    for (uint64_t i = 1; i <= seq; i++) {
      if (log->outcome[i] == 0) {
        log->outcome[i] = ack ? 1 : 2;
        log->reported++;
      }
    }
  } else {
    if (log->outcome[seq] != 0) {
      log->reported_twice++;
    } else {
      log->reported++;
    }
    log->outcome[seq] = ack ? 1 : 2;
  }
  pthread_cond_broadcast(&log->reported_cv);
  pthread_mutex_unlock(&log->lock);
}

static void test_confirms(void) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/confirms", data_dir);
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_open(STR(dir), &broker));
  warren_channel *ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("orders"), WARREN_QUEUE_DURABLE, NULL, NULL, 0,
                                          NULL, NULL, NULL));
  CHECK(warren_channel_next_publish_seq_no(ch) == 0);
  struct confirm_log log = {.reported_twice = 0};
  pthread_mutex_init(&log.lock, NULL);
  pthread_cond_init(&log.reported_cv, NULL);
  REQUIRE_OK(warren_channel_set_confirm_callback(ch, on_confirm, &log));
  REQUIRE_OK(warren_channel_confirm_select(ch));
  CHECK(warren_channel_next_publish_seq_no(ch) == 1);
  warren_properties *persistent = persistent_properties();
  REQUIRE(persistent != NULL);
  char body[32];

  /* Strategy 1: one at a time, each waited for. */
  for (int i = 0; i < 10; i++) {
    snprintf(body, sizeof body, "single %d", i);
    publish(ch, "", "orders", body, persistent, NULL);
    EXPECT(warren_channel_wait_for_confirms_or_die(ch, 5000), WARREN_STATUS_OK);
  }
  CHECK(warren_channel_next_publish_seq_no(ch) == 11);

  /* Strategy 2: in batches, one wait per batch. */
  for (int batch = 0; batch < 3; batch++) {
    for (int i = 0; i < 20; i++) {
      snprintf(body, sizeof body, "batch %d.%d", batch, i);
      publish(ch, "", "orders", body, persistent, NULL);
    }
    bool all_acked = false;
    EXPECT(warren_channel_wait_for_confirms(ch, 5000, &all_acked), WARREN_STATUS_OK);
    CHECK(all_acked);
  }

  /* Strategy 3: the callback saw every number, once, acked. It may still be running for the
   * last ones when a wait returns (waits and the callback are told independently). */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&log.lock);
  while (log.reported < 70) {
    if (pthread_cond_timedwait(&log.reported_cv, &log.lock, &deadline) != 0) break;
  }
  int acked = 0;
  for (int i = 1; i <= 70; i++) acked += log.outcome[i] == 1;
  int beyond = 0;
  for (int i = 71; i <= CONFIRMED_MAX; i++) beyond += log.outcome[i] != 0;
  int twice = log.reported_twice;
  pthread_mutex_unlock(&log.lock);
  CHECK(acked == 70 && beyond == 0 && twice == 0);
  warren_properties_free(persistent);

  EXPECT(warren_broker_close(broker), WARREN_STATUS_OK);
  warren_channel_free(ch);
  warren_broker_free(broker);
  pthread_mutex_destroy(&log.lock);
  pthread_cond_destroy(&log.reported_cv);

  /* Reopened: the 70 confirmed persistent messages are there. */
  broker = NULL;
  REQUIRE_OK(warren_broker_open(STR(dir), &broker));
  ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  uint32_t messages = 0;
  EXPECT(warren_channel_queue_declare(ch, STR("orders"), WARREN_QUEUE_PASSIVE, NULL, NULL, 0, NULL,
                                      &messages, NULL),
         WARREN_STATUS_OK);
  CHECK(messages == 70);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* Pattern 2's restart check: a durable queue and persistent messages survive a restart;
 * transient ones do not; a second broker cannot open a directory in use. */
static void test_durable_restart(void) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/restart", data_dir);
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_open(STR(dir), &broker));
  warren_broker *second = NULL;
  EXPECT(warren_broker_open(STR(dir), &second), WARREN_STATUS_STORE);
  CHECK(second == NULL);
  warren_channel *ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("task_queue"), WARREN_QUEUE_DURABLE, NULL, NULL,
                                          0,
                                          NULL, NULL, NULL));
  REQUIRE_OK(warren_channel_confirm_select(ch));
  warren_properties *persistent = persistent_properties();
  REQUIRE(persistent != NULL);
  char body[32];
  for (int i = 0; i < 5; i++) {
    snprintf(body, sizeof body, "task %d", i);
    publish(ch, "", "task_queue", body, persistent, NULL);
    publish(ch, "", "task_queue", "transient", NULL, NULL);
  }
  warren_properties_free(persistent);
  EXPECT(warren_channel_wait_for_confirms_or_die(ch, 5000), WARREN_STATUS_OK);
  /* Free without an explicit close: the last handles going closes a durable broker cleanly. */
  warren_channel_free(ch);
  warren_broker_free(broker);

  broker = NULL;
  REQUIRE_OK(warren_broker_open(STR(dir), &broker));
  ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  for (int i = 0; i < 5; i++) {
    snprintf(body, sizeof body, "task %d", i);
    warren_delivery *d = NULL;
    uint32_t left = 99;
    REQUIRE_OK(warren_channel_basic_get(ch, STR("task_queue"), false, &d, &left));
    REQUIRE(d != NULL);
    CHECK(body_is(d, body));
    CHECK(warren_delivery_delivery_mode(d) == 2);
    CHECK(left == (uint32_t)(4 - i));
    EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
    warren_delivery_free(d);
  }
  warren_delivery *none = (warren_delivery *)&none; /* overwritten with NULL: empty */
  EXPECT(warren_channel_basic_get(ch, STR("task_queue"), false, &none, NULL), WARREN_STATUS_OK);
  CHECK(none == NULL);
  warren_channel_free(ch);
  EXPECT(warren_broker_close(broker), WARREN_STATUS_OK);
  warren_broker_free(broker);
}

/* ----- several threads at once ----- */

#define THREADS 4
#define PER_THREAD 250

struct worker {
  warren_broker *broker;
  warren_topic *topic;
  int id;
};

/* Publishes PER_THREAD numbered messages on its own connection and channel, and binds and
 * routes on the shared matcher meanwhile. */
static void *publisher(void *arg) {
  struct worker *w = arg;
  warren_connection *conn = NULL;
  warren_channel *ch = open_channel(w->broker, &conn);
  REQUIRE(ch != NULL, NULL);
  char pattern[32], key[32], body[32];
  snprintf(pattern, sizeof pattern, "t%d.#", w->id);
  snprintf(key, sizeof key, "t%d.x.y", w->id);
  REQUIRE_OK(warren_topic_bind(w->topic, STR(pattern), (uint64_t)w->id, NULL), NULL);
  for (int i = 0; i < PER_THREAD; i++) {
    snprintf(body, sizeof body, "%d %d", w->id, i);
    size_t queues = 0;
    if (warren_channel_basic_publish(ch, NULL, 0, STR("mt"), STR(body), NULL, false, &queues) !=
            WARREN_STATUS_OK ||
        queues != 1) {
      CHECK(!"publish from a thread");
      break;
    }
    uint64_t dests[THREADS];
    size_t n = 0;
    if (warren_topic_route(w->topic, STR(key), dests, THREADS, &n) != WARREN_STATUS_OK ||
        n != 1 || dests[0] != (uint64_t)w->id) {
      CHECK(!"route from a thread");
      break;
    }
  }
  CHECK(1);
  warren_channel_free(ch);
  warren_connection_free(conn);
  return NULL;
}

static void test_threads(void) {
  warren_broker *broker = NULL;
  warren_topic *topic = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  REQUIRE_OK(warren_topic_new(&topic));
  warren_channel *ch = open_channel(broker, NULL);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("mt"), 0, NULL, NULL, 0, NULL, NULL, NULL));
  REQUIRE_OK(warren_channel_basic_qos(ch, 50, false));
  warren_consumer *c = consume(ch, "mt", false);
  REQUIRE(c != NULL);
  pthread_t threads[THREADS];
  struct worker workers[THREADS];
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (struct worker){.broker = broker, .topic = topic, .id = t};
    REQUIRE(pthread_create(&threads[t], NULL, publisher, &workers[t]) == 0);
  }
  static unsigned char seen[THREADS][PER_THREAD];
  memset(seen, 0, sizeof seen);
  int got = 0, dup = 0, next[THREADS] = {0}, out_of_order = 0;
  while (got < THREADS * PER_THREAD) {
    warren_delivery *d = recv_one(c, 10000);
    if (!d) break;
    const uint8_t *p;
    size_t n;
    char text[32] = {0};
    warren_delivery_body(d, &p, &n);
    memcpy(text, p, n < 31 ? n : 31);
    int t = -1, i = -1;
    if (sscanf(text, "%d %d", &t, &i) == 2 && t >= 0 && t < THREADS && i >= 0 &&
        i < PER_THREAD) {
      dup += seen[t][i]++;
      out_of_order += i != next[t];
      next[t] = i + 1;
    }
    EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
    warren_delivery_free(d);
    got++;
  }
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  /* Every message once, each thread's in its publish order. */
  CHECK(got == THREADS * PER_THREAD && dup == 0 && out_of_order == 0);
  warren_consumer_free(c);
  warren_channel_free(ch);
  warren_topic_free(topic);
  warren_broker_free(broker);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  data_dir = argv[1];
  test_version();
  test_hello();
  test_round_robin();
  test_fair_dispatch_prefetch_1();
  test_redelivery_when_a_consumer_goes_away();
  test_redelivery_when_a_callback_consumer_goes_away();
  test_fanout();
  test_direct();
  test_topic_exchange();
  test_topic_matcher();
  test_rpc();
  test_confirms();
  test_durable_restart();
  test_threads();
  return finish();
}
