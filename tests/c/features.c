/*
 * features.c: the C API beyond the seven patterns: field tables (arguments of declares,
 * bindings and consumes; message headers; reading delivered headers), every message property
 * on publish and delivery with the A10 counts, exchange-to-exchange bindings, basic.recover,
 * returned messages, broker options with a manual clock, the confirm callback's lifetime, and
 * the panic boundary seen from C.
 *
 * Usage: features DATA_DIR  (an empty scratch directory for the durable brokers)
 * Prints "N passed, M failed" last; exits 0 only when nothing failed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

/* The hook of src/ffi/testing.rs: not in warren.h (not part of the API), declared here. */
enum warren_status warren_testing_panic(const warren_channel *channel);

static const char *data_dir;

/* ----- helpers ----- */

static warren_channel *open_channel(warren_broker *broker) {
  warren_connection *conn = NULL;
  warren_channel *ch = NULL;
  REQUIRE_OK(warren_broker_connect(broker, &conn), NULL);
  REQUIRE_OK(warren_connection_create_channel(conn, &ch), NULL);
  warren_connection_free(conn); /* the channel keeps it open */
  return ch;
}

static int declare_queue(warren_channel *ch, const char *name, const warren_table *args) {
  REQUIRE_OK(warren_channel_queue_declare(ch, STR(name), 0, args, NULL, 0, NULL, NULL, NULL), 0);
  return 1;
}

static warren_consumer *consume(warren_channel *ch, const char *queue, bool no_ack,
                                const warren_table *args) {
  warren_consumer *c = NULL;
  REQUIRE_OK(warren_channel_basic_consume(ch, STR(queue), NULL, 0, no_ack, false, args, &c),
             NULL);
  return c;
}

static size_t publish(warren_channel *ch, const char *exchange, const char *key,
                      const char *body, const warren_properties *props) {
  size_t queues = 999;
  EXPECT(warren_channel_basic_publish(ch, STR(exchange), STR(key), STR(body), props, false,
                                      &queues),
         WARREN_STATUS_OK);
  return queues;
}

static warren_delivery *recv_one(warren_consumer *c) {
  warren_delivery *d = NULL;
  REQUIRE_OK(warren_consumer_recv(c, 5000, &d), NULL);
  return d;
}

static warren_delivery *get_one(warren_channel *ch, const char *queue) {
  warren_delivery *d = NULL;
  REQUIRE_OK(warren_channel_basic_get(ch, STR(queue), false, &d, NULL), NULL);
  CHECK(d != NULL);
  return d;
}

static int body_is(const warren_delivery *d, const char *want) {
  const uint8_t *ptr = NULL;
  size_t len = 0;
  return d && warren_delivery_body(d, &ptr, &len) == WARREN_STATUS_OK &&
         bytes_eq(ptr, len, want);
}

/* A table of one long-string field. */
static warren_table *table_of(const char *name, const char *value) {
  warren_table *t = NULL;
  REQUIRE_OK(warren_table_new(&t), NULL);
  EXPECT(warren_table_set_string(t, STR(name), STR(value)), WARREN_STATUS_OK);
  return t;
}

/* The value of field `name` of `t`, or a VOID value with `found` cleared. */
static warren_value field(const warren_table *t, const char *name, bool *found) {
  warren_value v;
  memset(&v, 0, sizeof v);
  bool f = false;
  EXPECT(warren_table_get(t, STR(name), &f, &v), WARREN_STATUS_OK);
  if (found) *found = f;
  return v;
}

static int string_field_is(const warren_table *t, const char *name, const char *want) {
  bool found = false;
  warren_value v = field(t, name, &found);
  return found && v.kind == WARREN_VALUE_STRING && bytes_eq(v.bytes, v.bytes_len, want);
}

/* Waits (up to 10 s) on `cv` until `*flag` is set; returns whether it was. */
static int wait_flag(pthread_mutex_t *m, pthread_cond_t *cv, const int *flag) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(m);
  while (!*flag) {
    if (pthread_cond_timedwait(cv, m, &deadline) != 0) break;
  }
  int set = *flag;
  pthread_mutex_unlock(m);
  return set;
}

/* ----- tables ----- */

/* Every type round-trips through a table, by name and by index, nested ones as views. */
static void test_table_types(void) {
  warren_table *t = NULL, *inner = NULL;
  warren_array *a = NULL;
  REQUIRE_OK(warren_table_new(&t));
  REQUIRE_OK(warren_table_new(&inner));
  REQUIRE_OK(warren_array_new(&a));
  EXPECT(warren_table_set_bool(t, STR("bool"), true), WARREN_STATUS_OK);
  EXPECT(warren_table_set_i8(t, STR("i8"), -8), WARREN_STATUS_OK);
  EXPECT(warren_table_set_u8(t, STR("u8"), 200), WARREN_STATUS_OK);
  EXPECT(warren_table_set_i16(t, STR("i16"), -1600), WARREN_STATUS_OK);
  EXPECT(warren_table_set_u16(t, STR("u16"), 60000), WARREN_STATUS_OK);
  EXPECT(warren_table_set_i32(t, STR("i32"), -320000), WARREN_STATUS_OK);
  EXPECT(warren_table_set_u32(t, STR("u32"), 4000000000u), WARREN_STATUS_OK);
  EXPECT(warren_table_set_i64(t, STR("i64"), INT64_MIN), WARREN_STATUS_OK);
  EXPECT(warren_table_set_u64(t, STR("u64"), UINT64_MAX), WARREN_STATUS_OK);
  EXPECT(warren_table_set_float(t, STR("float"), 1.5f), WARREN_STATUS_OK);
  EXPECT(warren_table_set_double(t, STR("double"), -2.25), WARREN_STATUS_OK);
  EXPECT(warren_table_set_decimal(t, STR("decimal"), 2, 31415), WARREN_STATUS_OK);
  EXPECT(warren_table_set_string(t, STR("string"), STR("text")), WARREN_STATUS_OK);
  const uint8_t raw[] = {0, 0xff, 7};
  EXPECT(warren_table_set_bytes(t, STR("bytes"), raw, sizeof raw), WARREN_STATUS_OK);
  EXPECT(warren_table_set_timestamp(t, STR("timestamp"), 1700000000), WARREN_STATUS_OK);
  EXPECT(warren_table_set_void(t, STR("void")), WARREN_STATUS_OK);
  EXPECT(warren_table_set_string(inner, STR("deep"), STR("yes")), WARREN_STATUS_OK);
  EXPECT(warren_array_push_i32(a, 1), WARREN_STATUS_OK);
  EXPECT(warren_array_push_string(a, STR("two")), WARREN_STATUS_OK);
  EXPECT(warren_array_push_table(a, inner), WARREN_STATUS_OK);
  EXPECT(warren_array_push_void(a), WARREN_STATUS_OK);
  EXPECT(warren_table_set_table(t, STR("table"), inner), WARREN_STATUS_OK);
  EXPECT(warren_table_set_array(t, STR("array"), a), WARREN_STATUS_OK);
  /* Inputs are copied: changing or freeing them now changes nothing in t. */
  EXPECT(warren_table_set_string(inner, STR("deep"), STR("changed")), WARREN_STATUS_OK);
  warren_table_free(inner);
  warren_array_free(a);
  /* A second set replaces the value. */
  EXPECT(warren_table_set_i8(t, STR("i8"), -9), WARREN_STATUS_OK);
  CHECK(warren_table_len(t) == 18);

  bool found = false;
  warren_value v = field(t, "bool", &found);
  CHECK(found && v.kind == WARREN_VALUE_BOOL && v.boolean);
  v = field(t, "i8", NULL);
  CHECK(v.kind == WARREN_VALUE_I8 && v.int_value == -9);
  v = field(t, "u8", NULL);
  CHECK(v.kind == WARREN_VALUE_U8 && v.uint_value == 200);
  v = field(t, "i16", NULL);
  CHECK(v.kind == WARREN_VALUE_I16 && v.int_value == -1600);
  v = field(t, "u16", NULL);
  CHECK(v.kind == WARREN_VALUE_U16 && v.uint_value == 60000);
  v = field(t, "i32", NULL);
  CHECK(v.kind == WARREN_VALUE_I32 && v.int_value == -320000);
  v = field(t, "u32", NULL);
  CHECK(v.kind == WARREN_VALUE_U32 && v.uint_value == 4000000000u);
  v = field(t, "i64", NULL);
  CHECK(v.kind == WARREN_VALUE_I64 && v.int_value == INT64_MIN);
  v = field(t, "u64", NULL);
  CHECK(v.kind == WARREN_VALUE_U64 && v.uint_value == UINT64_MAX);
  v = field(t, "float", NULL);
  CHECK(v.kind == WARREN_VALUE_FLOAT && v.float_value == 1.5);
  v = field(t, "double", NULL);
  CHECK(v.kind == WARREN_VALUE_DOUBLE && v.float_value == -2.25);
  v = field(t, "decimal", NULL);
  CHECK(v.kind == WARREN_VALUE_DECIMAL && v.decimal_scale == 2 && v.uint_value == 31415);
  CHECK(string_field_is(t, "string", "text"));
  v = field(t, "bytes", NULL);
  CHECK(v.kind == WARREN_VALUE_BYTES && v.bytes_len == 3 && memcmp(v.bytes, raw, 3) == 0);
  v = field(t, "timestamp", NULL);
  CHECK(v.kind == WARREN_VALUE_TIMESTAMP && v.uint_value == 1700000000);
  v = field(t, "void", &found);
  CHECK(found && v.kind == WARREN_VALUE_VOID);
  v = field(t, "table", NULL);
  CHECK(v.kind == WARREN_VALUE_TABLE && string_field_is(v.table, "deep", "yes"));
  v = field(t, "array", NULL);
  REQUIRE(v.kind == WARREN_VALUE_ARRAY && warren_array_len(v.array) == 4);
  const warren_array *view = v.array;
  warren_value item;
  EXPECT(warren_array_get(view, 0, &item), WARREN_STATUS_OK);
  CHECK(item.kind == WARREN_VALUE_I32 && item.int_value == 1);
  EXPECT(warren_array_get(view, 1, &item), WARREN_STATUS_OK);
  CHECK(item.kind == WARREN_VALUE_STRING && bytes_eq(item.bytes, item.bytes_len, "two"));
  EXPECT(warren_array_get(view, 2, &item), WARREN_STATUS_OK);
  CHECK(item.kind == WARREN_VALUE_TABLE && string_field_is(item.table, "deep", "yes"));
  EXPECT(warren_array_get(view, 3, &item), WARREN_STATUS_OK);
  CHECK(item.kind == WARREN_VALUE_VOID);
  /* Absent: found is false and the value untouched. */
  item.kind = WARREN_VALUE_I8;
  EXPECT(warren_table_get(t, STR("absent"), &found, &item), WARREN_STATUS_OK);
  CHECK(!found && item.kind == WARREN_VALUE_I8);

  /* Entries come in bytewise name order. */
  const char *order[] = {"array", "bool", "bytes", "decimal", "double", "float",
                         "i16", "i32", "i64", "i8", "string", "table",
                         "timestamp", "u16", "u32", "u64", "u8", "void"};
  for (size_t i = 0; i < 18; i++) {
    const uint8_t *name = NULL;
    size_t name_len = 0;
    EXPECT(warren_table_entry(t, i, &name, &name_len, &v), WARREN_STATUS_OK);
    if (!CHECK(bytes_eq(name, name_len, order[i]))) {
      fprintf(stderr, "  entry %zu: %.*s, want %s\n", i, (int)name_len, (const char *)name,
              order[i]);
    }
  }

  /* A copy is independent; a table may be set into itself (copied first). */
  warren_table *copy = NULL;
  REQUIRE_OK(warren_table_copy(t, &copy));
  bool removed = false;
  EXPECT(warren_table_remove(copy, STR("string"), &removed), WARREN_STATUS_OK);
  CHECK(removed && warren_table_len(copy) == 17 && warren_table_len(t) == 18);
  EXPECT(warren_table_remove(copy, STR("string"), &removed), WARREN_STATUS_OK);
  CHECK(!removed);
  EXPECT(warren_table_set_table(copy, STR("self"), copy), WARREN_STATUS_OK);
  v = field(copy, "self", NULL);
  CHECK(v.kind == WARREN_VALUE_TABLE && warren_table_len(v.table) == 17);
  warren_table_free(copy);
  warren_table_free(t);
}

/* 64 levels is the most (SEMANTICS F, the engine's check_table): building deeper is refused
 * with a status, and the deepest table publishes and comes back. */
static void test_table_nesting_limit(void) {
  warren_table *t = NULL;
  REQUIRE_OK(warren_table_new(&t));
  EXPECT(warren_table_set_i8(t, STR("leaf"), 1), WARREN_STATUS_OK);
  int levels = 1;
  for (;;) {
    warren_table *parent = NULL;
    REQUIRE_OK(warren_table_new(&parent));
    enum warren_status st = warren_table_set_table(parent, STR("n"), t);
    if (st != WARREN_STATUS_OK) {
      CHECK(st == WARREN_STATUS_INVALID_ARGUMENT);
      CHECK(last_error_contains("more than the 64 levels allowed"));
      warren_table_free(parent);
      break;
    }
    warren_table_free(t);
    t = parent;
    levels++;
    if (!CHECK(levels <= WARREN_MAX_NESTING)) break;
  }
  CHECK(levels == WARREN_MAX_NESTING);
  /* An array counts as a level too. */
  warren_array *a = NULL;
  REQUIRE_OK(warren_array_new(&a));
  EXPECT(warren_array_push_table(a, t), WARREN_STATUS_INVALID_ARGUMENT);
  warren_array_free(a);

  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE(declare_queue(ch, "deep", NULL));
  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p));
  EXPECT(warren_properties_set_headers(p, t), WARREN_STATUS_OK);
  CHECK(publish(ch, "", "deep", "deep", p) == 1);
  warren_delivery *d = get_one(ch, "deep");
  const warren_properties *got = NULL;
  const warren_table *h = NULL;
  EXPECT(warren_delivery_properties(d, &got), WARREN_STATUS_OK);
  EXPECT(warren_properties_headers(got, &h), WARREN_STATUS_OK);
  int depth = 0;
  while (h != NULL) {
    depth++;
    warren_value v = field(h, "n", NULL);
    h = v.kind == WARREN_VALUE_TABLE ? v.table : NULL;
  }
  CHECK(depth == WARREN_MAX_NESTING);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  warren_properties_free(p);
  warren_table_free(t);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- properties ----- */

/* Every property of SEMANTICS P3 set on publish arrives as published; nothing set reads as
 * unset; clear unsets them all. */
static void test_every_property(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE(declare_queue(ch, "props", NULL));
  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p));
  warren_table *headers = table_of("tenant", "acme");
  REQUIRE(headers != NULL);
  EXPECT(warren_table_set_i32(headers, STR("n"), 7), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_content_type(p, STR("application/json")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_content_encoding(p, STR("gzip")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_headers(p, headers), WARREN_STATUS_OK);
  warren_table_free(headers); /* copied */
  EXPECT(warren_properties_set_delivery_mode(p, 2), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_priority(p, 0), WARREN_STATUS_OK); /* 0 is set, not absent */
  EXPECT(warren_properties_set_correlation_id(p, STR("corr-1")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_reply_to(p, STR("replies")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_expiration(p, STR("60000")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_message_id(p, STR("msg-1")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_timestamp(p, 1700000000), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_type(p, STR("order.created")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_user_id(p, STR("guest")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_app_id(p, STR("shop")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_cluster_id(p, NULL, 0), WARREN_STATUS_OK); /* "" is set */
  CHECK(publish(ch, "", "props", "full", p) == 1);
  EXPECT(warren_properties_clear(p), WARREN_STATUS_OK);
  CHECK(publish(ch, "", "props", "bare", p) == 1);
  warren_properties_free(p);

  warren_delivery *d = get_one(ch, "props");
  REQUIRE(body_is(d, "full"));
  const warren_properties *got = NULL;
  REQUIRE_OK(warren_delivery_properties(d, &got));
  const uint8_t *s = NULL;
  size_t n = 0;
#define TEXT_IS(getter, want)                                                          \
  do {                                                                                 \
    EXPECT(getter(got, &s, &n), WARREN_STATUS_OK);                                     \
    CHECK(s != NULL && bytes_eq(s, n, want));                                          \
  } while (0)
  TEXT_IS(warren_properties_content_type, "application/json");
  TEXT_IS(warren_properties_content_encoding, "gzip");
  TEXT_IS(warren_properties_correlation_id, "corr-1");
  TEXT_IS(warren_properties_reply_to, "replies");
  TEXT_IS(warren_properties_expiration, "60000");
  TEXT_IS(warren_properties_message_id, "msg-1");
  TEXT_IS(warren_properties_type, "order.created");
  TEXT_IS(warren_properties_user_id, "guest");
  TEXT_IS(warren_properties_app_id, "shop");
  TEXT_IS(warren_properties_cluster_id, "");
#undef TEXT_IS
  bool set = false;
  uint8_t byte = 99;
  uint64_t ts = 0;
  EXPECT(warren_properties_delivery_mode(got, &set, &byte), WARREN_STATUS_OK);
  CHECK(set && byte == 2);
  EXPECT(warren_properties_priority(got, &set, &byte), WARREN_STATUS_OK);
  CHECK(set && byte == 0);
  EXPECT(warren_properties_timestamp(got, &set, &ts), WARREN_STATUS_OK);
  CHECK(set && ts == 1700000000);
  const warren_table *h = NULL;
  EXPECT(warren_properties_headers(got, &h), WARREN_STATUS_OK);
  CHECK(h != NULL && string_field_is(h, "tenant", "acme"));
  CHECK(field(h, "n", NULL).int_value == 7);
  /* The older accessors agree. */
  CHECK(warren_delivery_delivery_mode(d) == 2);
  EXPECT(warren_delivery_message_id(d, &s, &n), WARREN_STATUS_OK);
  CHECK(bytes_eq(s, n, "msg-1"));
  /* basic_get: no consumer tag; never failed or returned. */
  EXPECT(warren_delivery_consumer_tag(d, &s, &n), WARREN_STATUS_OK);
  CHECK(s == NULL && n == 0);
  CHECK(warren_delivery_failed_count(d) == 0 && warren_delivery_returned_count(d) == 0);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);

  d = get_one(ch, "props");
  REQUIRE(body_is(d, "bare"));
  REQUIRE_OK(warren_delivery_properties(d, &got));
  EXPECT(warren_properties_content_type(got, &s, &n), WARREN_STATUS_OK);
  CHECK(s == NULL && n == 0);
  EXPECT(warren_properties_headers(got, &h), WARREN_STATUS_OK);
  CHECK(h == NULL);
  EXPECT(warren_properties_priority(got, &set, &byte), WARREN_STATUS_OK);
  CHECK(!set && byte == 0);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);

  /* An invalid expiration is the publish's 406 (SEMANTICS P3, L1), closing the channel. */
  REQUIRE_OK(warren_properties_new(&p));
  EXPECT(warren_properties_set_expiration(p, STR("soon")), WARREN_STATUS_OK);
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, STR("props"), STR("x"), p, false, NULL),
         WARREN_STATUS_PRECONDITION_FAILED);
  CHECK(last_error_contains("invalid expiration 'soon'"));
  warren_properties_free(p);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* A10 from C: a reject with requeue is a failed delivery (x-delivery-count in the headers);
 * basic_recover is a returned one, and redelivers. */
static void test_counts_and_recover(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE(declare_queue(ch, "counted", NULL));
  warren_consumer *c = consume(ch, "counted", false, NULL);
  REQUIRE(c != NULL);
  CHECK(publish(ch, "", "counted", "job", NULL) == 1);
  warren_delivery *d = recv_one(c);
  REQUIRE(d != NULL);
  const uint8_t *tag = NULL;
  size_t tag_len = 0;
  EXPECT(warren_delivery_consumer_tag(d, &tag, &tag_len), WARREN_STATUS_OK);
  CHECK(tag_len > 9 && memcmp(tag, "amq.ctag-", 9) == 0);
  EXPECT(warren_delivery_reject(d, true), WARREN_STATUS_OK);
  warren_delivery_free(d);

  d = recv_one(c);
  REQUIRE(d != NULL);
  CHECK(warren_delivery_redelivered(d));
  CHECK(warren_delivery_failed_count(d) == 1 && warren_delivery_returned_count(d) == 0);
  const warren_properties *p = NULL;
  const warren_table *h = NULL;
  EXPECT(warren_delivery_properties(d, &p), WARREN_STATUS_OK);
  EXPECT(warren_properties_headers(p, &h), WARREN_STATUS_OK);
  bool found = false;
  warren_value v = field(h, "x-delivery-count", &found);
  CHECK(found && v.kind == WARREN_VALUE_I64 && v.int_value == 1);
  warren_delivery_free(d); /* not settled: recover takes it back */

  EXPECT(warren_channel_basic_recover(ch, true), WARREN_STATUS_OK);
  d = recv_one(c);
  REQUIRE(d != NULL);
  CHECK(body_is(d, "job") && warren_delivery_redelivered(d));
  CHECK(warren_delivery_failed_count(d) == 1 && warren_delivery_returned_count(d) == 1);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  warren_consumer_free(c);

  /* requeue=false is 540, a connection error. */
  EXPECT(warren_channel_basic_recover(ch, false), WARREN_STATUS_NOT_IMPLEMENTED);
  CHECK(last_error_contains("540"));
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- arguments ----- */

/* Headers exchange bindings take their terms from the binding arguments (SEMANTICS E3), and
 * messages carry headers; unbinding needs the same arguments. */
static void test_headers_exchange(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("hx"), WARREN_EXCHANGE_TYPE_HEADERS, 0,
                                             NULL));
  REQUIRE(declare_queue(ch, "pdf_reports", NULL) && declare_queue(ch, "zip_or_log", NULL));
  warren_table *all = table_of("x-match", "all");
  warren_table *any = table_of("x-match", "any");
  REQUIRE(all && any);
  EXPECT(warren_table_set_string(all, STR("format"), STR("pdf")), WARREN_STATUS_OK);
  EXPECT(warren_table_set_string(all, STR("type"), STR("report")), WARREN_STATUS_OK);
  EXPECT(warren_table_set_string(any, STR("format"), STR("zip")), WARREN_STATUS_OK);
  EXPECT(warren_table_set_i8(any, STR("size"), 5), WARREN_STATUS_OK);
  REQUIRE_OK(warren_channel_queue_bind(ch, STR("pdf_reports"), STR("hx"), NULL, 0, all));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR("zip_or_log"), STR("hx"), NULL, 0, any));

  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p));
  warren_table *h = table_of("format", "pdf");
  REQUIRE(h != NULL);
  EXPECT(warren_properties_set_headers(p, h), WARREN_STATUS_OK);
  CHECK(publish(ch, "hx", "", "pdf only", p) == 0); /* all: type missing */
  EXPECT(warren_table_set_string(h, STR("type"), STR("report")), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_headers(p, h), WARREN_STATUS_OK);
  CHECK(publish(ch, "hx", "", "pdf report", p) == 1);
  /* Integer widths are one class: a u64 5 header matches an i8 5 term. */
  warren_table_free(h);
  REQUIRE_OK(warren_table_new(&h));
  EXPECT(warren_table_set_u64(h, STR("size"), 5), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_headers(p, h), WARREN_STATUS_OK);
  CHECK(publish(ch, "hx", "", "size 5", p) == 1);
  /* Unbind with other arguments leaves the binding; with the same ones removes it. */
  REQUIRE_OK(warren_channel_queue_unbind(ch, STR("zip_or_log"), STR("hx"), NULL, 0, all));
  CHECK(publish(ch, "hx", "", "size 5 again", p) == 1);
  REQUIRE_OK(warren_channel_queue_unbind(ch, STR("zip_or_log"), STR("hx"), NULL, 0, any));
  CHECK(publish(ch, "hx", "", "size 5, unbound", p) == 0);
  /* A bad x-match is 406 (closing the channel). */
  warren_table *bad = table_of("x-match", "most");
  EXPECT(warren_channel_queue_bind(ch, STR("pdf_reports"), STR("hx"), NULL, 0, bad),
         WARREN_STATUS_PRECONDITION_FAILED);
  warren_table_free(bad);
  warren_table_free(h);
  warren_table_free(all);
  warren_table_free(any);
  warren_properties_free(p);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* Exchange and queue arguments: an alternate exchange (E7), a quorum queue compared on
 * redeclare (Q2, Q8), an argument warren refuses (Q8). */
static void test_declare_arguments(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  warren_table *ae = table_of("alternate-exchange", "unrouted-x");
  REQUIRE(ae != NULL);
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("main-x"), WARREN_EXCHANGE_TYPE_DIRECT, 0,
                                             ae));
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("unrouted-x"), WARREN_EXCHANGE_TYPE_FANOUT,
                                             0, NULL));
  REQUIRE(declare_queue(ch, "unrouted", NULL));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR("unrouted"), STR("unrouted-x"), NULL, 0, NULL));
  CHECK(publish(ch, "main-x", "nobody", "to the alternate", NULL) == 1);
  warren_delivery *d = get_one(ch, "unrouted");
  CHECK(body_is(d, "to the alternate"));
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  /* A redeclare with another alternate exchange is 406 (E10). */
  warren_table *other = table_of("alternate-exchange", "elsewhere");
  EXPECT(warren_channel_exchange_declare(ch, STR("main-x"), WARREN_EXCHANGE_TYPE_DIRECT, 0,
                                         other),
         WARREN_STATUS_PRECONDITION_FAILED);
  warren_table_free(other);
  warren_table_free(ae);
  warren_channel_free(ch);

  ch = open_channel(broker);
  REQUIRE(ch != NULL);
  warren_table *quorum = table_of("x-queue-type", "quorum");
  REQUIRE(quorum != NULL);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("qq"), WARREN_QUEUE_DURABLE, quorum, NULL, 0,
                                          NULL, NULL, NULL));
  EXPECT(warren_channel_queue_declare(ch, STR("qq"), WARREN_QUEUE_DURABLE, quorum, NULL, 0,
                                      NULL, NULL, NULL),
         WARREN_STATUS_OK);
  EXPECT(warren_channel_queue_declare(ch, STR("qq"), WARREN_QUEUE_DURABLE, NULL, NULL, 0, NULL,
                                      NULL, NULL),
         WARREN_STATUS_PRECONDITION_FAILED);
  CHECK(last_error_contains("x-queue-type"));
  warren_table_free(quorum);
  warren_channel_free(ch);

  ch = open_channel(broker);
  REQUIRE(ch != NULL);
  warren_table *stream = table_of("x-queue-type", "stream");
  EXPECT(warren_channel_queue_declare(ch, STR("s"), WARREN_QUEUE_DURABLE, stream, NULL, 0, NULL,
                                      NULL, NULL),
         WARREN_STATUS_PRECONDITION_FAILED);
  CHECK(last_error_contains("stream"));
  warren_table_free(stream);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* Queue arguments the engine defines (SEMANTICS X1-X5) through a C table, and the x-death
 * history read back from the delivered headers: an array of tables. */
static void test_dead_letter_history(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE(declare_queue(ch, "graveyard", NULL));
  warren_table *args = table_of("x-dead-letter-exchange", "");
  REQUIRE(args != NULL);
  EXPECT(warren_table_set_string(args, STR("x-dead-letter-routing-key"), STR("graveyard")),
         WARREN_STATUS_OK);
  REQUIRE(declare_queue(ch, "work", args));
  warren_table_free(args);
  CHECK(publish(ch, "", "work", "doomed", NULL) == 1);
  warren_delivery *d = get_one(ch, "work");
  REQUIRE(d != NULL);
  EXPECT(warren_delivery_reject(d, false), WARREN_STATUS_OK); /* dead-lettered: rejected */
  warren_delivery_free(d);

  d = get_one(ch, "graveyard");
  REQUIRE(body_is(d, "doomed"));
  const warren_properties *p = NULL;
  const warren_table *h = NULL;
  REQUIRE_OK(warren_delivery_properties(d, &p));
  REQUIRE_OK(warren_properties_headers(p, &h));
  REQUIRE(h != NULL);
  bool found = false;
  warren_value deaths = field(h, "x-death", &found);
  REQUIRE(found && deaths.kind == WARREN_VALUE_ARRAY && warren_array_len(deaths.array) == 1);
  warren_value first;
  REQUIRE_OK(warren_array_get(deaths.array, 0, &first));
  REQUIRE(first.kind == WARREN_VALUE_TABLE);
  const warren_table *death = first.table;
  CHECK(string_field_is(death, "queue", "work"));
  CHECK(string_field_is(death, "reason", "rejected"));
  CHECK(string_field_is(death, "exchange", ""));
  warren_value count = field(death, "count", NULL);
  CHECK(count.kind == WARREN_VALUE_I64 && count.int_value == 1);
  CHECK(field(death, "time", NULL).kind == WARREN_VALUE_TIMESTAMP);
  warren_value keys = field(death, "routing-keys", NULL);
  REQUIRE(keys.kind == WARREN_VALUE_ARRAY && warren_array_len(keys.array) == 1);
  warren_value key;
  REQUIRE_OK(warren_array_get(keys.array, 0, &key));
  CHECK(key.kind == WARREN_VALUE_STRING && bytes_eq(key.bytes, key.bytes_len, "work"));
  CHECK(string_field_is(h, "x-first-death-reason", "rejected"));
  CHECK(string_field_is(h, "x-last-death-queue", "work"));
  /* A copy of the delivered headers outlives the delivery. */
  warren_table *kept = NULL;
  REQUIRE_OK(warren_table_copy(h, &kept));
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  CHECK(warren_table_len(kept) >= 7 && string_field_is(kept, "x-last-death-reason", "rejected"));
  warren_table_free(kept);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- exchange-to-exchange bindings ----- */

static void test_exchange_bindings(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("src"), WARREN_EXCHANGE_TYPE_TOPIC, 0,
                                             NULL));
  REQUIRE_OK(warren_channel_exchange_declare(ch, STR("dst"), WARREN_EXCHANGE_TYPE_FANOUT, 0,
                                             NULL));
  REQUIRE(declare_queue(ch, "fed", NULL));
  REQUIRE_OK(warren_channel_queue_bind(ch, STR("fed"), STR("dst"), NULL, 0, NULL));
  /* Destination first, as AMQP's exchange.bind. */
  REQUIRE_OK(warren_channel_exchange_bind(ch, STR("dst"), STR("src"), STR("a.#"), NULL));
  CHECK(publish(ch, "src", "a.b", "through", NULL) == 1);
  CHECK(publish(ch, "src", "b.a", "not matched", NULL) == 0);
  /* A cycle is harmless: one copy per queue (E6). */
  REQUIRE_OK(warren_channel_exchange_bind(ch, STR("src"), STR("dst"), NULL, 0, NULL));
  CHECK(publish(ch, "src", "a", "once", NULL) == 1);
  REQUIRE_OK(warren_channel_exchange_unbind(ch, STR("src"), STR("dst"), NULL, 0, NULL));
  REQUIRE_OK(warren_channel_exchange_unbind(ch, STR("dst"), STR("src"), STR("a.#"), NULL));
  CHECK(publish(ch, "src", "a.b", "unbound", NULL) == 0);
  /* The default exchange at either end: 403 (E2). */
  EXPECT(warren_channel_exchange_bind(ch, STR("dst"), STR(""), STR("k"), NULL),
         WARREN_STATUS_ACCESS_REFUSED);
  warren_channel_free(ch);
  ch = open_channel(broker);
  REQUIRE(ch != NULL);
  EXPECT(warren_channel_exchange_bind(ch, STR("dst"), STR("missing"), STR("k"), NULL),
         WARREN_STATUS_NOT_FOUND);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- returned messages ----- */

struct returns {
  warren_channel *ch;
  int calls;
  uint16_t reply_code;
  char text[32], exchange[32], key[32], body[32], message_id[32], header[32];
  enum warren_status nested_mandatory, nested_plain, nested_set;
};

static void copy_text(char *dst, size_t cap, const uint8_t *src, size_t len) {
  size_t n = len < cap - 1 ? len : cap - 1;
  if (n > 0) memcpy(dst, src, n);
  dst[n] = '\0';
}

/* The return callback, on the publishing thread inside basic_publish: copies what it needs
 * (everything is borrowed for the call) and tries the calls it must not make. */
static void on_return(void *userdata, const warren_returned_message *m) {
  struct returns *r = userdata;
  r->calls++;
  r->reply_code = m->reply_code;
  copy_text(r->text, sizeof r->text, m->reply_text, m->reply_text_len);
  copy_text(r->exchange, sizeof r->exchange, m->exchange, m->exchange_len);
  copy_text(r->key, sizeof r->key, m->routing_key, m->routing_key_len);
  copy_text(r->body, sizeof r->body, m->body, m->body_len);
  const uint8_t *s = NULL;
  size_t n = 0;
  if (warren_properties_message_id(m->properties, &s, &n) == WARREN_STATUS_OK) {
    copy_text(r->message_id, sizeof r->message_id, s, n);
  }
  const warren_table *h = NULL;
  warren_value v;
  bool found = false;
  if (warren_properties_headers(m->properties, &h) == WARREN_STATUS_OK && h &&
      warren_table_get(h, STR("origin"), &found, &v) == WARREN_STATUS_OK && found) {
    copy_text(r->header, sizeof r->header, v.bytes, v.bytes_len);
  }
  r->nested_mandatory = warren_channel_basic_publish(r->ch, NULL, 0, STR("nowhere"), STR("b"),
                                                     NULL, true, NULL);
  r->nested_plain = warren_channel_basic_publish(r->ch, NULL, 0, STR("nowhere"), STR("b"), NULL,
                                                 false, NULL);
  r->nested_set = warren_channel_set_return_callback(r->ch, on_return, r);
}

static void test_returned_messages(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  struct returns r;
  memset(&r, 0, sizeof r);
  r.ch = open_channel(broker);
  REQUIRE(r.ch != NULL);
  REQUIRE_OK(warren_channel_set_return_callback(r.ch, on_return, &r));
  REQUIRE_OK(warren_channel_exchange_declare(r.ch, STR("rx"), WARREN_EXCHANGE_TYPE_DIRECT, 0,
                                             NULL));
  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p));
  warren_table *h = table_of("origin", "test");
  EXPECT(warren_properties_set_headers(p, h), WARREN_STATUS_OK);
  EXPECT(warren_properties_set_message_id(p, STR("m-7")), WARREN_STATUS_OK);
  EXPECT(warren_channel_basic_publish(r.ch, STR("rx"), STR("nobody"), STR("lost"), p, true,
                                      NULL),
         WARREN_STATUS_NO_ROUTE);
  CHECK(r.calls == 1 && r.reply_code == 312);
  CHECK(strcmp(r.text, "NO_ROUTE") == 0 && strcmp(r.exchange, "rx") == 0);
  CHECK(strcmp(r.key, "nobody") == 0 && strcmp(r.body, "lost") == 0);
  CHECK(strcmp(r.message_id, "m-7") == 0 && strcmp(r.header, "test") == 0);
  CHECK(r.nested_mandatory == WARREN_STATUS_INVALID_STATE);
  CHECK(r.nested_plain == WARREN_STATUS_OK);
  CHECK(r.nested_set == WARREN_STATUS_INVALID_STATE);
  /* Not mandatory: dropped, no return. */
  CHECK(publish(r.ch, "rx", "nobody", "dropped", NULL) == 0);
  CHECK(r.calls == 1);
  /* The channel is still open, and outside the callback the calls work again. */
  REQUIRE_OK(warren_channel_set_return_callback(r.ch, on_return, &r));
  warren_table_free(h);
  warren_properties_free(p);
  warren_channel_free(r.ch);
  warren_broker_free(broker);
}

/* ----- broker options and the manual clock ----- */

static void test_broker_options(void) {
  warren_broker_options *o = NULL;
  REQUIRE_OK(warren_broker_options_new(&o));
  EXPECT(warren_broker_options_set_max_message_size(o, 8), WARREN_STATUS_OK);
  EXPECT(warren_broker_options_set_channel_max(o, 1), WARREN_STATUS_OK);
  EXPECT(warren_broker_options_set_consumer_timeout(o, 0), WARREN_STATUS_OK);
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new_with_options(o, &broker));
  warren_broker_options_free(o); /* copied */
  warren_connection *conn = NULL;
  warren_channel *ch = NULL, *second = NULL;
  REQUIRE_OK(warren_broker_connect(broker, &conn));
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));
  REQUIRE(declare_queue(ch, "small", NULL));
  EXPECT(warren_connection_create_channel(conn, &second), WARREN_STATUS_NOT_ALLOWED);
  CHECK(second == NULL);
  CHECK(last_error_contains("530"));
  warren_channel_free(ch); /* the 530 closed its connection, and so it */
  warren_connection_free(conn);
  ch = open_channel(broker);
  REQUIRE(ch != NULL);
  CHECK(publish(ch, "", "small", "8 bytes!", NULL) == 1);
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, STR("small"), STR("9 bytes!!"), NULL, false,
                                      NULL),
         WARREN_STATUS_PRECONDITION_FAILED);
  CHECK(last_error_contains("larger than configured max size 8"));
  EXPECT(warren_broker_advance_clock(broker, 10), WARREN_STATUS_INVALID_STATE);
  warren_channel_free(ch);
  warren_broker_free(broker);

  /* A durable broker with options. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/options", data_dir);
  REQUIRE_OK(warren_broker_options_new(&o));
  EXPECT(warren_broker_options_set_segment_size(o, 4096), WARREN_STATUS_OK);
  REQUIRE_OK(warren_broker_open_with_options(STR(dir), o, &broker));
  warren_broker_options_free(o);
  ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("d"), WARREN_QUEUE_DURABLE, NULL, NULL, 0,
                                          NULL, NULL, NULL));
  warren_channel_free(ch);
  EXPECT(warren_broker_close(broker), WARREN_STATUS_OK);
  warren_broker_free(broker);
}

/* A consume argument (x-consumer-timeout, SEMANTICS A9) on a manual clock: advancing past it
 * cancels the consumer and requeues its delivery, counted as returned (A10). */
static void test_consumer_timeout_on_a_manual_clock(void) {
  warren_broker_options *o = NULL;
  REQUIRE_OK(warren_broker_options_new(&o));
  EXPECT(warren_broker_options_set_manual_clock(o, 1000000), WARREN_STATUS_OK);
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new_with_options(o, &broker));
  warren_broker_options_free(o);
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE(declare_queue(ch, "slow", NULL));
  warren_table *args = NULL;
  REQUIRE_OK(warren_table_new(&args));
  EXPECT(warren_table_set_i32(args, STR("x-consumer-timeout"), 100), WARREN_STATUS_OK);
  warren_consumer *c = consume(ch, "slow", false, args);
  warren_table_free(args);
  REQUIRE(c != NULL);
  CHECK(publish(ch, "", "slow", "work", NULL) == 1);
  warren_delivery *d = recv_one(c);
  REQUIRE(d != NULL);
  EXPECT(warren_broker_advance_clock(broker, 50), WARREN_STATUS_OK);
  warren_delivery *none = NULL;
  EXPECT(warren_consumer_recv(c, 0, &none), WARREN_STATUS_TIMEOUT); /* not yet */
  EXPECT(warren_broker_advance_clock(broker, 100), WARREN_STATUS_OK);
  EXPECT(warren_consumer_recv(c, 1000, &none), WARREN_STATUS_CANCELLED);
  CHECK(none == NULL);
  warren_delivery_free(d);

  warren_consumer *again = consume(ch, "slow", false, NULL);
  REQUIRE(again != NULL);
  d = recv_one(again);
  CHECK(body_is(d, "work") && warren_delivery_redelivered(d));
  CHECK(warren_delivery_returned_count(d) == 1 && warren_delivery_failed_count(d) == 0);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);
  warren_consumer_free(again);
  warren_consumer_free(c);
  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- queue limits through argument tables (issue [limits] item 8) ----- */

/* The ready count of `queue`, by a passive declare. */
static uint32_t ready_in(warren_channel *ch, const char *queue) {
  uint32_t ready = 999;
  EXPECT(warren_channel_queue_declare(ch, STR(queue), WARREN_QUEUE_PASSIVE, NULL, NULL, 0,
                                      NULL, &ready, NULL),
         WARREN_STATUS_OK);
  return ready;
}

/* The reason of the newest x-death entry of `d`, compared with `want`. */
static int last_reason_is(const warren_delivery *d, const char *want) {
  const warren_properties *p = NULL;
  const warren_table *h = NULL;
  REQUIRE_OK(warren_delivery_properties(d, &p), 0);
  REQUIRE_OK(warren_properties_headers(p, &h), 0);
  REQUIRE(h != NULL, 0);
  return string_field_is(h, "x-last-death-reason", want);
}

/* SEMANTICS L1, L2, L6, L7, D5, D6, X2 and the delivery limit, each through a C table on a
 * manual clock; a bad value is a 406 that names the argument. */
static void test_queue_limits(void) {
  warren_broker_options *o = NULL;
  REQUIRE_OK(warren_broker_options_new(&o));
  EXPECT(warren_broker_options_set_manual_clock(o, 1000000), WARREN_STATUS_OK);
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new_with_options(o, &broker));
  warren_broker_options_free(o);
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE(declare_queue(ch, "dead", NULL));

  /* L1, L2, X2: a queue TTL expires the head on the engine's timer, dead-lettered. */
  warren_table *ttl = table_of("x-dead-letter-exchange", "");
  REQUIRE(ttl != NULL);
  EXPECT(warren_table_set_string(ttl, STR("x-dead-letter-routing-key"), STR("dead")),
         WARREN_STATUS_OK);
  EXPECT(warren_table_set_i32(ttl, STR("x-message-ttl"), 100), WARREN_STATUS_OK);
  REQUIRE(declare_queue(ch, "short", ttl));
  warren_table_free(ttl);
  CHECK(publish(ch, "", "short", "stale", NULL) == 1);
  EXPECT(warren_broker_advance_clock(broker, 99), WARREN_STATUS_OK);
  CHECK(ready_in(ch, "short") == 1);
  EXPECT(warren_broker_advance_clock(broker, 1), WARREN_STATUS_OK);
  CHECK(ready_in(ch, "short") == 0);
  warren_delivery *d = get_one(ch, "dead");
  CHECK(body_is(d, "stale") && last_reason_is(d, "expired"));
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);

  /* L5, L6: reject-publish refuses the third message. */
  warren_table *max = NULL;
  REQUIRE_OK(warren_table_new(&max));
  EXPECT(warren_table_set_u8(max, STR("x-max-length"), 2), WARREN_STATUS_OK);
  EXPECT(warren_table_set_string(max, STR("x-overflow"), STR("reject-publish")),
         WARREN_STATUS_OK);
  REQUIRE(declare_queue(ch, "bounded", max));
  warren_table_free(max);
  CHECK(publish(ch, "", "bounded", "1", NULL) == 1);
  CHECK(publish(ch, "", "bounded", "2", NULL) == 1);
  CHECK(publish(ch, "", "bounded", "3", NULL) == 0);
  CHECK(ready_in(ch, "bounded") == 2);

  /* L7: higher priority first. */
  warren_table *prio = NULL;
  REQUIRE_OK(warren_table_new(&prio));
  EXPECT(warren_table_set_u8(prio, STR("x-max-priority"), 9), WARREN_STATUS_OK);
  REQUIRE(declare_queue(ch, "ranked", prio));
  warren_table_free(prio);
  warren_properties *props = NULL;
  REQUIRE_OK(warren_properties_new(&props));
  EXPECT(warren_properties_set_priority(props, 1), WARREN_STATUS_OK);
  CHECK(publish(ch, "", "ranked", "low", props) == 1);
  EXPECT(warren_properties_set_priority(props, 9), WARREN_STATUS_OK);
  CHECK(publish(ch, "", "ranked", "high", props) == 1);
  warren_properties_free(props);
  d = get_one(ch, "ranked");
  CHECK(body_is(d, "high"));
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);

  /* D6: only the first consumer of a single-active-consumer queue receives. */
  warren_table *sac = NULL;
  REQUIRE_OK(warren_table_new(&sac));
  EXPECT(warren_table_set_bool(sac, STR("x-single-active-consumer"), true), WARREN_STATUS_OK);
  REQUIRE(declare_queue(ch, "single", sac));
  warren_table_free(sac);
  warren_consumer *first = consume(ch, "single", true, NULL);
  /* D5: a consumer priority does not matter to a single active consumer. */
  warren_table *cprio = NULL;
  REQUIRE_OK(warren_table_new(&cprio));
  EXPECT(warren_table_set_i32(cprio, STR("x-priority"), 10), WARREN_STATUS_OK);
  warren_consumer *second = consume(ch, "single", true, cprio);
  warren_table_free(cprio);
  REQUIRE(first != NULL && second != NULL);
  CHECK(publish(ch, "", "single", "a", NULL) == 1);
  CHECK(publish(ch, "", "single", "b", NULL) == 1);
  warren_delivery *none = NULL;
  EXPECT(warren_consumer_recv(second, 0, &none), WARREN_STATUS_TIMEOUT);
  for (int i = 0; i < 2; i++) {
    d = recv_one(first);
    CHECK(d != NULL);
    warren_delivery_free(d);
  }
  warren_consumer_free(second);
  warren_consumer_free(first);

  /* The delivery limit: a reject with requeue is a failure; over the limit, dead-lettered. */
  warren_table *limit = table_of("x-dead-letter-exchange", "");
  REQUIRE(limit != NULL);
  EXPECT(warren_table_set_string(limit, STR("x-dead-letter-routing-key"), STR("dead")),
         WARREN_STATUS_OK);
  EXPECT(warren_table_set_i64(limit, STR("x-delivery-limit"), 1), WARREN_STATUS_OK);
  REQUIRE(declare_queue(ch, "flaky", limit));
  warren_table_free(limit);
  CHECK(publish(ch, "", "flaky", "poison", NULL) == 1);
  for (int i = 0; i < 2; i++) {
    d = get_one(ch, "flaky");
    REQUIRE(d != NULL);
    CHECK(warren_delivery_failed_count(d) == (uint32_t)i);
    EXPECT(warren_delivery_reject(d, true), WARREN_STATUS_OK);
    warren_delivery_free(d);
  }
  CHECK(ready_in(ch, "flaky") == 0);
  d = get_one(ch, "dead");
  CHECK(body_is(d, "poison") && last_reason_is(d, "delivery_limit"));
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);

  /* A bad value is a 406 naming the argument; the channel closes (F2). */
  warren_table *bad = NULL;
  REQUIRE_OK(warren_table_new(&bad));
  EXPECT(warren_table_set_i32(bad, STR("x-max-priority"), 256), WARREN_STATUS_OK);
  EXPECT(warren_channel_queue_declare(ch, STR("nope"), 0, bad, NULL, 0, NULL, NULL, NULL),
         WARREN_STATUS_PRECONDITION_FAILED);
  char text[256];
  warren_last_error(text, sizeof text);
  CHECK(strstr(text, "x-max-priority") != NULL);
  warren_table_free(bad);

  warren_channel_free(ch);
  warren_broker_free(broker);
}

/* ----- the confirm callback's lifetime ----- */

/* Calls of the confirm callback, on the store's thread (durable broker, persistent messages
 * on a durable queue): each enters, then waits until `release` before returning, so a close
 * or a replacement can be made while one is in progress. */
struct slow_confirms {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  int entered;
  int release;
  atomic_int calls;
  atomic_int in_call;
  atomic_int stopped;    /* set once the call that must wait for callbacks returned */
  atomic_int late_calls; /* calls that began, or were running, after `stopped` */
};

static void slow_confirm(void *userdata, uint64_t seq, bool multiple, bool ack) {
  (void)seq, (void)multiple, (void)ack;
  struct slow_confirms *s = userdata;
  atomic_fetch_add(&s->in_call, 1);
  if (atomic_load(&s->stopped)) atomic_fetch_add(&s->late_calls, 1);
  atomic_fetch_add(&s->calls, 1);
  pthread_mutex_lock(&s->lock);
  s->entered = 1;
  pthread_cond_broadcast(&s->cv);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  while (!s->release) {
    if (pthread_cond_timedwait(&s->cv, &s->lock, &deadline) != 0) break;
  }
  pthread_mutex_unlock(&s->lock);
  if (atomic_load(&s->stopped)) atomic_fetch_add(&s->late_calls, 1);
  atomic_fetch_sub(&s->in_call, 1);
}

static void noop_confirm(void *userdata, uint64_t seq, bool multiple, bool ack) {
  (void)userdata, (void)seq, (void)multiple, (void)ack;
}

struct releaser {
  struct slow_confirms *s;
};

/* Releases the callback after a moment (it only widens the window in which the main thread
 * waits inside close or set; the checks hold whatever the timing). */
static void *release_later(void *arg) {
  struct slow_confirms *s = ((struct releaser *)arg)->s;
  struct timespec pause = {0, 50 * 1000 * 1000};
  nanosleep(&pause, NULL);
  pthread_mutex_lock(&s->lock);
  s->release = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* Once warren_channel_close (mode 0) or a replacing warren_channel_set_confirm_callback
 * (mode 1) returns, the old callback is not running and never runs again: its userdata may be
 * freed (ASan and valgrind would see a late call touch freed memory). */
static void confirm_lifetime(int mode) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/confirm-lifetime-%d", data_dir, mode);
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_open(STR(dir), &broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("durable"), WARREN_QUEUE_DURABLE, NULL, NULL,
                                          0, NULL, NULL, NULL));
  struct slow_confirms *s = calloc(1, sizeof *s);
  REQUIRE(s != NULL);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cv, NULL);
  REQUIRE_OK(warren_channel_set_confirm_callback(ch, slow_confirm, s));
  REQUIRE_OK(warren_channel_confirm_select(ch));
  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p));
  EXPECT(warren_properties_set_delivery_mode(p, 2), WARREN_STATUS_OK);
  for (int i = 0; i < 4; i++) {
    publish(ch, "", "durable", "persistent", p);
  }
  warren_properties_free(p);
  CHECK(wait_flag(&s->lock, &s->cv, &s->entered));
  pthread_t t;
  struct releaser rel = {s};
  REQUIRE(pthread_create(&t, NULL, release_later, &rel) == 0);
  if (mode == 0) {
    EXPECT(warren_channel_close(ch), WARREN_STATUS_OK);
  } else {
    EXPECT(warren_channel_set_confirm_callback(ch, noop_confirm, NULL), WARREN_STATUS_OK);
  }
  atomic_store(&s->stopped, 1);
  CHECK(atomic_load(&s->in_call) == 0);
  pthread_join(t, NULL);
  CHECK(atomic_load(&s->calls) >= 1);
  int late = atomic_load(&s->late_calls);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cv);
  free(s); /* a later call would be a use after free */
  CHECK(late == 0);
  if (mode == 1) {
    /* The remaining confirms went, or go, to the new callback only. */
    bool all = false;
    EXPECT(warren_channel_wait_for_confirms(ch, 10000, &all), WARREN_STATUS_OK);
    CHECK(all);
  }
  EXPECT(warren_channel_close(ch), WARREN_STATUS_OK); /* mode 0: twice, nothing more */
  warren_channel_free(ch);
  EXPECT(warren_broker_close(broker), WARREN_STATUS_OK);
  warren_broker_free(broker);
}

static void test_confirm_callback_lifetime(void) {
  confirm_lifetime(0);
  confirm_lifetime(1);
}

/* ----- the panic boundary ----- */

/* A Rust panic inside a call becomes WARREN_STATUS_PANIC with its text, poisons the handle
 * the call used, and never unwinds into C: this function goes on after it. */
static void test_panic_boundary(void) {
  warren_broker *broker = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  warren_channel *ch = open_channel(broker);
  REQUIRE(ch != NULL);
  EXPECT(warren_testing_panic(NULL), WARREN_STATUS_PANIC);
  CHECK(last_error_contains("warren panicked"));
  CHECK(last_error_contains("a panic on purpose"));
  EXPECT(warren_testing_panic(ch), WARREN_STATUS_PANIC);
  EXPECT(warren_channel_basic_qos(ch, 1, false), WARREN_STATUS_POISONED);
  CHECK(last_error_contains("channel is poisoned"));
  CHECK(warren_channel_next_publish_seq_no(ch) == 0); /* the documented default */
  EXPECT(warren_testing_panic(ch), WARREN_STATUS_POISONED);
  /* Other handles are untouched. */
  warren_channel *other = open_channel(broker);
  REQUIRE(other != NULL);
  EXPECT(warren_channel_basic_qos(other, 1, false), WARREN_STATUS_OK);
  warren_channel_free(other);
  warren_channel_free(ch); /* _free works on a poisoned handle */
  warren_broker_free(broker);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  data_dir = argv[1];
  test_table_types();
  test_table_nesting_limit();
  test_every_property();
  test_counts_and_recover();
  test_headers_exchange();
  test_declare_arguments();
  test_dead_letter_history();
  test_exchange_bindings();
  test_returned_messages();
  test_broker_options();
  test_consumer_timeout_on_a_manual_clock();
  test_queue_limits();
  test_confirm_callback_lifetime();
  test_panic_boundary();
  return finish();
}
