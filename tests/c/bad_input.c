/*
 * bad_input.c: what a C caller can get wrong without undefined behaviour, each answered with
 * its status and an error text, never a crash: NULL for every pointer argument of
 * representative functions (and of every field table, array, properties and broker options
 * function), (NULL, 0) as the empty string and (NULL, n) refused, lengths that lie (refused
 * before a byte is read), invalid UTF-8, over-long names, tables nested too deep, indexes past
 * the end, unknown enum values and flag bits, absurd timeouts, buffers too small,
 * _free(NULL), and calls on channels whose channel, connection or broker was closed.
 *
 * Prints "N passed, M failed" last; exits 0 only when nothing failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

/* A byte that stands for a buffer a lying length claims is much longer. */
static const uint8_t one_byte[1] = {'q'};

static void test_free_null(void) {
  warren_broker_free(NULL);
  warren_connection_free(NULL);
  warren_channel_free(NULL);
  warren_consumer_free(NULL);
  warren_delivery_free(NULL);
  warren_topic_free(NULL);
  warren_table_free(NULL);
  warren_array_free(NULL);
  warren_properties_free(NULL);
  warren_broker_options_free(NULL);
  CHECK(1); /* reached: none crashed */
}

static void test_statuses(void) {
  CHECK(warren_status_reply_code(WARREN_STATUS_NOT_FOUND) == 404);
  CHECK(warren_status_reply_code(WARREN_STATUS_ACCESS_REFUSED) == 403);
  CHECK(warren_status_reply_code(WARREN_STATUS_OK) == 0);
  CHECK(warren_status_reply_code(WARREN_STATUS_TIMEOUT) == 0);
  CHECK(warren_status_reply_code(12345) == 0);
  CHECK(warren_status_reply_code(-1) == 0);
  CHECK(strcmp(warren_status_name(WARREN_STATUS_NULL_ARGUMENT), "WARREN_STATUS_NULL_ARGUMENT") ==
        0);
  CHECK(strcmp(warren_status_name(12345), "WARREN_STATUS_UNKNOWN") == 0);
}

static void test_null_handles_and_outputs(void) {
  warren_broker *broker = NULL;
  warren_connection *conn = NULL;
  warren_channel *ch = NULL;
  EXPECT(warren_broker_new(NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("broker_out is NULL"));
  EXPECT(warren_broker_open(NULL, 0, &broker), WARREN_STATUS_INVALID_ARGUMENT); /* "" */
  CHECK(last_error_contains("dir is empty"));
  EXPECT(warren_broker_open(NULL, 5, &broker), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(broker == NULL);
  REQUIRE_OK(warren_broker_new(&broker));
  EXPECT(warren_broker_connect(NULL, &conn), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("broker is NULL"));
  EXPECT(warren_broker_connect(broker, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_close(NULL), WARREN_STATUS_NULL_ARGUMENT);
  REQUIRE_OK(warren_broker_connect(broker, &conn));
  EXPECT(warren_connection_create_channel(NULL, &ch), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_connection_create_channel(conn, NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(ch == NULL);
  EXPECT(warren_connection_close(NULL), WARREN_STATUS_NULL_ARGUMENT);
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));

  /* Every pointer argument of basic_publish, one at a time. */
  EXPECT(warren_channel_basic_publish(NULL, STR(""), STR("q"), STR("b"), NULL, false, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_basic_publish(ch, NULL, 3, STR("q"), STR("b"), NULL, false, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("exchange is NULL with length 3"));
  EXPECT(warren_channel_basic_publish(ch, STR(""), NULL, 5, STR("b"), NULL, false, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_basic_publish(ch, STR(""), STR("q"), NULL, 5, NULL, false, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("body is NULL with length 5"));
  warren_properties *props = NULL;
  REQUIRE_OK(warren_properties_new(&props));
  EXPECT(warren_properties_set_correlation_id(props, NULL, 4), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("correlation_id is NULL with length 4"));
  warren_properties_free(props);

  /* (NULL, 0) is the empty string: the default exchange, an empty key, an empty body. */
  size_t queues = 99;
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, NULL, 0, NULL, 0, NULL, false, &queues),
         WARREN_STATUS_OK);
  CHECK(queues == 0);

  /* Every pointer argument of queue_declare, basic_consume, recv and the accessors. */
  uint32_t count = 7;
  EXPECT(warren_channel_queue_declare(NULL, STR("q"), 0, NULL, NULL, 0, NULL, NULL, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_queue_declare(ch, NULL, 1, 0, NULL, NULL, 0, NULL, NULL, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_queue_declare(ch, STR("q"), 0, NULL, NULL, 10, NULL, NULL, &count),
         WARREN_STATUS_NULL_ARGUMENT);
  CHECK(count == 7); /* outputs untouched on failure */
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("q"), 0, NULL, NULL, 0, NULL, NULL, NULL));
  warren_consumer *c = NULL;
  EXPECT(warren_channel_basic_consume(ch, STR("q"), NULL, 0, false, false, NULL, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_basic_consume(NULL, STR("q"), NULL, 0, false, false, NULL, &c),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_basic_consume(ch, STR("q"), NULL, 4, false, false, NULL, &c),
         WARREN_STATUS_NULL_ARGUMENT);
  CHECK(c == NULL);
  REQUIRE_OK(warren_channel_basic_consume(ch, STR("q"), STR("my-tag"), false, false, NULL, &c));
  warren_delivery *d = NULL;
  EXPECT(warren_consumer_recv(NULL, 0, &d), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_consumer_recv(c, 0, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_consumer_set_callback(c, NULL, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_consumer_set_callback(NULL, NULL, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_consumer_cancel(NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_consumer_tag(NULL, NULL, 0, NULL), WARREN_STATUS_NULL_ARGUMENT);

  /* The consumer tag into too small a buffer: the length needed, nothing copied. */
  char tag[4] = {'x', 'x', 'x', 'x'};
  size_t tag_len = 0;
  EXPECT(warren_consumer_tag(c, (uint8_t *)tag, sizeof tag, &tag_len),
         WARREN_STATUS_BUFFER_TOO_SMALL);
  CHECK(tag_len == 6 && tag[0] == 'x');
  char big[WARREN_MAX_NAME_LEN];
  EXPECT(warren_consumer_tag(c, (uint8_t *)big, sizeof big, &tag_len), WARREN_STATUS_OK);
  CHECK(bytes_eq((const uint8_t *)big, tag_len, "my-tag"));

  /* A timeout: nothing there. An absurd timeout with a message waiting returns at once. */
  EXPECT(warren_consumer_recv(c, 10, &d), WARREN_STATUS_TIMEOUT);
  CHECK(d == NULL);
  REQUIRE_OK(warren_channel_basic_publish(ch, NULL, 0, STR("q"), STR("m"), NULL, false, NULL));
  REQUIRE_OK(warren_consumer_recv(c, UINT64_MAX, &d));
  const uint8_t *ptr = NULL;
  size_t len = 0;
  EXPECT(warren_delivery_body(NULL, &ptr, &len), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_body(d, NULL, &len), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_body(d, &ptr, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_reply_to(d, &ptr, &len), WARREN_STATUS_OK);
  CHECK(ptr == NULL && len == 0); /* absent */
  CHECK(warren_delivery_tag(NULL) == 0);
  CHECK(!warren_delivery_redelivered(NULL));
  CHECK(warren_delivery_delivery_mode(NULL) == 0);
  EXPECT(warren_delivery_ack(NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_ack(d), WARREN_STATUS_OK);
  warren_delivery_free(d);

  /* Confirms outside confirm mode. */
  bool all = false;
  EXPECT(warren_channel_wait_for_confirms(ch, 10, &all), WARREN_STATUS_INVALID_STATE);
  CHECK(warren_channel_next_publish_seq_no(NULL) == 0);
  REQUIRE_OK(warren_channel_confirm_select(ch));
  EXPECT(warren_channel_wait_for_confirms(ch, 10, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_wait_for_confirms(ch, UINT64_MAX, &all), WARREN_STATUS_OK);
  CHECK(all);
  EXPECT(warren_channel_set_confirm_callback(ch, NULL, NULL), WARREN_STATUS_NULL_ARGUMENT);

  warren_consumer_free(c);
  warren_channel_free(ch);
  warren_connection_free(conn);
  warren_broker_free(broker);
}

static void test_bad_strings_and_values(void) {
  warren_broker *broker = NULL;
  warren_connection *conn = NULL;
  warren_channel *ch = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  REQUIRE_OK(warren_broker_connect(broker, &conn));
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));

  /* Invalid UTF-8 names: refused locally, the channel stays open. */
  const uint8_t bad[] = {'j', 'o', 0xff, 'b'};
  EXPECT(warren_channel_queue_declare(ch, bad, sizeof bad, 0, NULL, NULL, 0, NULL, NULL, NULL),
         WARREN_STATUS_INVALID_UTF8);
  CHECK(last_error_contains("queue name is not valid UTF-8: invalid byte at offset 2"));
  EXPECT(warren_channel_exchange_declare(ch, bad, sizeof bad, WARREN_EXCHANGE_TYPE_TOPIC, 0, NULL),
         WARREN_STATUS_INVALID_UTF8);
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, bad, sizeof bad, STR("b"), NULL, false, NULL),
         WARREN_STATUS_INVALID_UTF8);
  warren_properties *props = NULL;
  REQUIRE_OK(warren_properties_new(&props));
  EXPECT(warren_properties_set_message_id(props, bad, sizeof bad), WARREN_STATUS_INVALID_UTF8);
  CHECK(last_error_contains("message_id: property is not valid UTF-8"));
  warren_properties_free(props);

  /* Over-long names and keys: 256 bytes is one too many. */
  char long_key[300];
  memset(long_key, 'k', sizeof long_key);
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, (const uint8_t *)long_key, 256, STR("b"),
                                      NULL, false, NULL),
         WARREN_STATUS_TOO_LONG);
  CHECK(last_error_contains("routing key too long: 256 bytes, at most 255"));
  EXPECT(warren_channel_queue_declare(ch, (const uint8_t *)long_key, 255, 0, NULL, NULL, 0, NULL,
                                      NULL,
                                      NULL),
         WARREN_STATUS_OK);
  EXPECT(warren_channel_queue_bind(ch, NULL, 0, STR("amq.topic"), (const uint8_t *)long_key, 300,
                                   NULL),
         WARREN_STATUS_TOO_LONG);

  /* Lengths that lie: refused before a byte is read (one real byte, a huge length). */
  EXPECT(warren_channel_queue_declare(ch, one_byte, (size_t)1 << 40, 0, NULL, NULL, 0, NULL, NULL,
                                      NULL),
         WARREN_STATUS_TOO_LONG);
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, STR("k"), one_byte, SIZE_MAX, NULL, false,
                                      NULL),
         WARREN_STATUS_TOO_LONG);
  CHECK(last_error_contains("body too long"));

  /* Unknown enum values and flag bits. */
  EXPECT(warren_channel_exchange_declare(ch, STR("x"), 99, 0, NULL),
         WARREN_STATUS_INVALID_ARGUMENT);
  CHECK(last_error_contains("kind 99 is no exchange type"));
  EXPECT(warren_channel_exchange_declare(ch, STR("x"), WARREN_EXCHANGE_TYPE_DIRECT, 1u << 20, NULL),
         WARREN_STATUS_INVALID_ARGUMENT);
  EXPECT(warren_channel_queue_declare(ch, STR("q"), WARREN_QUEUE_IF_EMPTY, NULL, NULL, 0, NULL,
                                      NULL,
                                      NULL),
         WARREN_STATUS_INVALID_ARGUMENT);
  EXPECT(warren_channel_queue_delete(ch, STR("q"), WARREN_QUEUE_DURABLE, NULL),
         WARREN_STATUS_INVALID_ARGUMENT);

  /* A server-named queue into too small a name buffer: refused before declaring. */
  char name[10];
  size_t name_len = 777;
  EXPECT(warren_channel_queue_declare(ch, NULL, 0, WARREN_QUEUE_EXCLUSIVE, NULL, (uint8_t *)name,
                                      sizeof name, &name_len, NULL, NULL),
         WARREN_STATUS_BUFFER_TOO_SMALL);
  CHECK(name_len == 777);

  /* The error text, truncated to the buffer, with the full length returned. */
  EXPECT(warren_channel_exchange_declare(ch, STR("x"), 99, 0, NULL),
         WARREN_STATUS_INVALID_ARGUMENT);
  char small[8];
  size_t full = warren_last_error(small, sizeof small);
  CHECK(full > sizeof small && small[7] == '\0' && strncmp(small, "kind 99", 7) == 0);
  CHECK(warren_last_error(NULL, 0) == full);

  /* Nothing above closed the channel: local errors close nothing. */
  EXPECT(warren_channel_basic_qos(ch, 1, false), WARREN_STATUS_OK);

  /* The bare matcher. */
  warren_topic *t = NULL;
  REQUIRE_OK(warren_topic_new(&t));
  EXPECT(warren_topic_new(NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_topic_bind(NULL, STR("a.*"), 1, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_topic_bind(t, NULL, 3, 1, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_topic_bind(t, bad, sizeof bad, 1, NULL), WARREN_STATUS_INVALID_UTF8);
  EXPECT(warren_topic_bind(t, (const uint8_t *)long_key, 256, 1, NULL), WARREN_STATUS_TOO_LONG);
  REQUIRE_OK(warren_topic_bind(t, STR("a.*"), 1, NULL));
  size_t n = 5;
  uint64_t dests[2];
  EXPECT(warren_topic_route(t, STR("a.b"), NULL, 2, &n), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_topic_route(t, STR("a.b"), dests, 2, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_topic_route(t, STR("a.b"), NULL, 0, &n), WARREN_STATUS_BUFFER_TOO_SMALL);
  CHECK(n == 1);
  EXPECT(warren_topic_route(t, STR("zzz"), NULL, 0, &n), WARREN_STATUS_OK);
  CHECK(n == 0);
  warren_topic_free(t);

  warren_channel_free(ch);
  warren_connection_free(conn);
  warren_broker_free(broker);
}

/* Calls after a close: each returns its status and says why. */
static void test_after_close(void) {
  warren_broker *broker = NULL;
  warren_connection *conn = NULL;
  warren_channel *ch = NULL, *ch2 = NULL;
  REQUIRE_OK(warren_broker_new(&broker));
  REQUIRE_OK(warren_broker_connect(broker, &conn));
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));
  REQUIRE_OK(warren_connection_create_channel(conn, &ch2));

  /* A channel error (404) closes the channel; later calls repeat the cause. */
  EXPECT(warren_channel_queue_declare(ch, STR("missing"), WARREN_QUEUE_PASSIVE, NULL, NULL, 0, NULL,
                                      NULL, NULL),
         WARREN_STATUS_NOT_FOUND);
  CHECK(last_error_contains("404 NOT_FOUND"));
  EXPECT(warren_channel_basic_publish(ch, NULL, 0, STR("k"), STR("b"), NULL, false, NULL),
         WARREN_STATUS_CHANNEL_CLOSED);
  CHECK(last_error_contains("channel closed by an error: 404"));
  /* An unknown delivery tag: 406, the channel closes. */
  EXPECT(warren_channel_basic_ack(ch2, 42, false), WARREN_STATUS_PRECONDITION_FAILED);
  CHECK(last_error_contains("unknown delivery tag"));
  warren_channel_free(ch);
  warren_channel_free(ch2);

  /* A channel whose connection closed. */
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("jobs"), 0, NULL, NULL, 0, NULL, NULL, NULL));
  EXPECT(warren_connection_close(conn), WARREN_STATUS_OK);
  enum warren_status st =
      warren_channel_basic_publish(ch, NULL, 0, STR("jobs"), STR("b"), NULL, false, NULL);
  CHECK(st == WARREN_STATUS_CHANNEL_CLOSED || st == WARREN_STATUS_CONNECTION_CLOSED);
  CHECK(last_error_contains("closed"));
  EXPECT(warren_connection_create_channel(conn, &ch2), WARREN_STATUS_CONNECTION_CLOSED);
  EXPECT(warren_connection_close(conn), WARREN_STATUS_OK); /* twice is fine */
  warren_channel_free(ch);
  warren_connection_free(conn);

  /* Channels and connections after their broker closed. */
  REQUIRE_OK(warren_broker_connect(broker, &conn));
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));
  warren_consumer *c = NULL;
  REQUIRE_OK(warren_channel_basic_consume(ch, STR("jobs"), NULL, 0, false, false, NULL, &c));
  EXPECT(warren_broker_close(broker), WARREN_STATUS_OK);
  st = warren_channel_queue_declare(ch, STR("jobs"), 0, NULL, NULL, 0, NULL, NULL, NULL);
  CHECK(st == WARREN_STATUS_CHANNEL_CLOSED || st == WARREN_STATUS_CONNECTION_CLOSED);
  CHECK(last_error_contains("closed"));
  warren_delivery *d = NULL;
  EXPECT(warren_consumer_recv(c, 1000, &d), WARREN_STATUS_CHANNEL_CLOSED);
  CHECK(d == NULL);
  warren_connection *late = NULL;
  REQUIRE_OK(warren_broker_connect(broker, &late));
  EXPECT(warren_connection_create_channel(late, &ch2), WARREN_STATUS_CONNECTION_CLOSED);
  warren_connection_free(late);
  warren_consumer_free(c);
  warren_channel_free(ch);
  warren_connection_free(conn);
  warren_broker_free(broker);
}

/* Field tables and arrays: NULL objects, names and outputs; names that are not UTF-8, too
 * long or lie about their length; values that lie; indexes past the end; nesting too deep.
 * A failed call changes nothing. */
static void test_bad_tables(void) {
  const uint8_t bad[] = {'n', 0xc3, 0x28};
  char long_name[300];
  memset(long_name, 'n', sizeof long_name);
  EXPECT(warren_table_new(NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_array_new(NULL), WARREN_STATUS_NULL_ARGUMENT);
  warren_table *t = NULL;
  warren_array *a = NULL;
  REQUIRE_OK(warren_table_new(&t));
  REQUIRE_OK(warren_array_new(&a));
  REQUIRE_OK(warren_table_set_i32(t, STR("kept"), 1));

  /* NULL tables, for setters of each shape. */
  EXPECT(warren_table_set_bool(NULL, STR("b"), true), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("table is NULL"));
  EXPECT(warren_table_set_u64(NULL, STR("n"), 1), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_decimal(NULL, STR("n"), 1, 1), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_string(NULL, STR("s"), STR("v")), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_bytes(NULL, STR("s"), STR("v")), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_void(NULL, STR("v")), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_table(NULL, STR("t"), t), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_array(NULL, STR("a"), a), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_remove(NULL, STR("kept"), NULL), WARREN_STATUS_NULL_ARGUMENT);

  /* Names: NULL with a length, not UTF-8, 256 bytes, a lying length (nothing read). */
  EXPECT(warren_table_set_i8(t, NULL, 3, 1), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("field name is NULL with length 3"));
  EXPECT(warren_table_set_i8(t, bad, sizeof bad, 1), WARREN_STATUS_INVALID_UTF8);
  CHECK(last_error_contains("field name: property is not valid UTF-8"));
  EXPECT(warren_table_set_i8(t, (const uint8_t *)long_name, 256, 1), WARREN_STATUS_TOO_LONG);
  EXPECT(warren_table_set_i8(t, one_byte, (size_t)1 << 40, 1), WARREN_STATUS_TOO_LONG);
  EXPECT(warren_table_remove(t, bad, sizeof bad, NULL), WARREN_STATUS_INVALID_UTF8);
  /* An empty name is a name. */
  EXPECT(warren_table_set_i8(t, NULL, 0, 1), WARREN_STATUS_OK);
  bool removed = false;
  EXPECT(warren_table_remove(t, NULL, 0, &removed), WARREN_STATUS_OK);
  CHECK(removed);

  /* Values: NULL with a length, lying lengths over 512 MiB (nothing read), NULL tables. */
  EXPECT(warren_table_set_string(t, STR("s"), NULL, 4), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("value is NULL with length 4"));
  EXPECT(warren_table_set_string(t, STR("s"), one_byte, SIZE_MAX), WARREN_STATUS_TOO_LONG);
  CHECK(last_error_contains("value too long"));
  EXPECT(warren_table_set_bytes(t, STR("s"), one_byte, (size_t)1 << 40), WARREN_STATUS_TOO_LONG);
  EXPECT(warren_table_set_table(t, STR("t"), NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_set_array(t, STR("a"), NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("value is NULL"));
  EXPECT(warren_table_set_string(t, STR("empty"), NULL, 0), WARREN_STATUS_OK); /* "" */
  CHECK(warren_table_len(t) == 2); /* kept, empty: the failures changed nothing */

  /* Arrays. */
  EXPECT(warren_array_push_bool(NULL, true), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("array is NULL"));
  EXPECT(warren_array_push_void(NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_array_push_string(a, NULL, 2), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_array_push_bytes(a, one_byte, SIZE_MAX), WARREN_STATUS_TOO_LONG);
  EXPECT(warren_array_push_table(a, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_array_push_array(a, NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(warren_array_len(a) == 0);

  /* Reading: NULL objects and outputs, indexes past the end, bad names. */
  warren_value v;
  const uint8_t *name = NULL;
  size_t name_len = 0;
  bool found = false;
  CHECK(warren_table_len(NULL) == 0 && warren_array_len(NULL) == 0);
  EXPECT(warren_table_entry(NULL, 0, &name, &name_len, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_entry(t, 0, NULL, &name_len, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_entry(t, 0, &name, NULL, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_entry(t, 0, &name, &name_len, NULL), WARREN_STATUS_NULL_ARGUMENT);
  name_len = 77;
  EXPECT(warren_table_entry(t, 2, &name, &name_len, &v), WARREN_STATUS_INVALID_ARGUMENT);
  CHECK(last_error_contains("index 2 past the end of a table of 2 fields"));
  CHECK(name_len == 77); /* outputs untouched */
  EXPECT(warren_table_entry(t, SIZE_MAX, &name, &name_len, &v), WARREN_STATUS_INVALID_ARGUMENT);
  EXPECT(warren_table_get(NULL, STR("kept"), &found, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_get(t, STR("kept"), NULL, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_get(t, STR("kept"), &found, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_get(t, NULL, 9, &found, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_get(t, bad, sizeof bad, &found, &v), WARREN_STATUS_INVALID_UTF8);
  EXPECT(warren_table_get(t, (const uint8_t *)long_name, 300, &found, &v),
         WARREN_STATUS_TOO_LONG);
  EXPECT(warren_array_get(NULL, 0, &v), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_array_get(a, 0, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_array_get(a, 0, &v), WARREN_STATUS_INVALID_ARGUMENT);
  warren_table *copy = NULL;
  EXPECT(warren_table_copy(NULL, &copy), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_table_copy(t, NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(copy == NULL);

  /* Too deep: arrays nested in arrays until the 64 levels are reached. */
  int pushes = 0;
  enum warren_status st = WARREN_STATUS_OK;
  while (st == WARREN_STATUS_OK && pushes < 1000) {
    warren_array *parent = NULL;
    REQUIRE_OK(warren_array_new(&parent));
    st = warren_array_push_array(parent, a);
    if (st == WARREN_STATUS_OK) {
      warren_array_free(a);
      a = parent;
      pushes++;
    } else {
      warren_array_free(parent);
    }
  }
  CHECK(st == WARREN_STATUS_INVALID_ARGUMENT && pushes == WARREN_MAX_NESTING - 1);
  CHECK(last_error_contains("levels allowed"));
  EXPECT(warren_table_set_array(t, STR("deep"), a), WARREN_STATUS_INVALID_ARGUMENT);
  CHECK(warren_array_len(a) == 1);
  warren_array_free(a);
  warren_table_free(t);
}

/* The text setters and getters of warren_properties, all alike. */
typedef enum warren_status (*text_setter)(warren_properties *, const uint8_t *, size_t);
typedef enum warren_status (*text_getter)(const warren_properties *, const uint8_t **, size_t *);

static void test_bad_properties(void) {
  const text_setter setters[] = {
      warren_properties_set_content_type, warren_properties_set_content_encoding,
      warren_properties_set_correlation_id, warren_properties_set_reply_to,
      warren_properties_set_expiration, warren_properties_set_message_id,
      warren_properties_set_type, warren_properties_set_user_id,
      warren_properties_set_app_id, warren_properties_set_cluster_id,
  };
  const text_getter getters[] = {
      warren_properties_content_type, warren_properties_content_encoding,
      warren_properties_correlation_id, warren_properties_reply_to,
      warren_properties_expiration, warren_properties_message_id,
      warren_properties_type, warren_properties_user_id,
      warren_properties_app_id, warren_properties_cluster_id,
  };
  const uint8_t bad[] = {0xe2, 0x82};
  char long_text[256];
  memset(long_text, 't', sizeof long_text);
  EXPECT(warren_properties_new(NULL), WARREN_STATUS_NULL_ARGUMENT);
  warren_properties *p = NULL;
  REQUIRE_OK(warren_properties_new(&p));
  const uint8_t *s = (const uint8_t *)"untouched";
  size_t n = 9;
  for (size_t i = 0; i < sizeof setters / sizeof setters[0]; i++) {
    EXPECT(setters[i](NULL, STR("v")), WARREN_STATUS_NULL_ARGUMENT);
    EXPECT(setters[i](p, NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
    EXPECT(setters[i](p, bad, sizeof bad), WARREN_STATUS_INVALID_UTF8);
    EXPECT(setters[i](p, (const uint8_t *)long_text, 256), WARREN_STATUS_TOO_LONG);
    EXPECT(setters[i](p, one_byte, SIZE_MAX), WARREN_STATUS_TOO_LONG);
    EXPECT(getters[i](NULL, &s, &n), WARREN_STATUS_NULL_ARGUMENT);
    EXPECT(getters[i](p, NULL, &n), WARREN_STATUS_NULL_ARGUMENT);
    EXPECT(getters[i](p, &s, NULL), WARREN_STATUS_NULL_ARGUMENT);
    CHECK(n == 9);
    /* Nothing was set by the failures. */
    EXPECT(getters[i](p, &s, &n), WARREN_STATUS_OK);
    CHECK(s == NULL && n == 0);
    n = 9;
  }
  bool set = true;
  uint8_t byte = 0;
  uint64_t ts = 0;
  EXPECT(warren_properties_set_delivery_mode(NULL, 2), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_set_priority(NULL, 2), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_set_timestamp(NULL, 2), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_set_headers(NULL, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_clear(NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_delivery_mode(NULL, &set, &byte), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_priority(p, NULL, &byte), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_timestamp(p, &set, NULL), WARREN_STATUS_NULL_ARGUMENT);
  const warren_table *h = (const warren_table *)&h;
  EXPECT(warren_properties_headers(NULL, &h), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_headers(p, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_properties_headers(p, &h), WARREN_STATUS_OK);
  CHECK(h == NULL);
  EXPECT(warren_properties_set_headers(p, NULL), WARREN_STATUS_OK); /* NULL unsets */
  EXPECT(warren_properties_timestamp(p, &set, &ts), WARREN_STATUS_OK);
  CHECK(!set && ts == 0);
  warren_properties_free(p);
}

/* Broker options, the clock, and the new channel and delivery calls. */
static void test_bad_options_and_new_calls(void) {
  EXPECT(warren_broker_options_new(NULL), WARREN_STATUS_NULL_ARGUMENT);
  warren_broker_options *o = NULL;
  REQUIRE_OK(warren_broker_options_new(&o));
  EXPECT(warren_broker_options_set_max_message_size(NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_options_set_max_message_size(o, WARREN_MAX_MESSAGE_SIZE_LIMIT + 1),
         WARREN_STATUS_INVALID_ARGUMENT);
  CHECK(last_error_contains("over the limit"));
  EXPECT(warren_broker_options_set_channel_max(NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_options_set_consumer_timeout(NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_options_set_manual_clock(NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_options_set_segment_size(NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
  warren_broker *broker = NULL;
  EXPECT(warren_broker_new_with_options(o, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_open_with_options(NULL, 4, o, &broker), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_broker_open_with_options(NULL, 0, o, &broker), WARREN_STATUS_INVALID_ARGUMENT);
  CHECK(broker == NULL);
  EXPECT(warren_broker_advance_clock(NULL, 1), WARREN_STATUS_NULL_ARGUMENT);
  warren_broker_options_free(o);
  REQUIRE_OK(warren_broker_new_with_options(NULL, &broker)); /* NULL: the defaults */
  EXPECT(warren_broker_advance_clock(broker, UINT64_MAX), WARREN_STATUS_INVALID_STATE);

  warren_connection *conn = NULL;
  warren_channel *ch = NULL;
  REQUIRE_OK(warren_broker_connect(broker, &conn));
  REQUIRE_OK(warren_connection_create_channel(conn, &ch));
  const uint8_t bad[] = {0xff};
  char long_key[300];
  memset(long_key, 'k', sizeof long_key);
  EXPECT(warren_channel_exchange_bind(NULL, STR("d"), STR("s"), STR("k"), NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_exchange_bind(ch, NULL, 1, STR("s"), STR("k"), NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("destination is NULL with length 1"));
  EXPECT(warren_channel_exchange_bind(ch, STR("d"), bad, sizeof bad, STR("k"), NULL),
         WARREN_STATUS_INVALID_UTF8);
  EXPECT(warren_channel_exchange_bind(ch, STR("d"), STR("s"), (const uint8_t *)long_key, 256,
                                      NULL),
         WARREN_STATUS_TOO_LONG);
  EXPECT(warren_channel_exchange_unbind(ch, STR("d"), one_byte, (size_t)1 << 40, NULL, 0, NULL),
         WARREN_STATUS_TOO_LONG);
  EXPECT(warren_channel_exchange_unbind(NULL, STR("d"), STR("s"), NULL, 0, NULL),
         WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_basic_recover(NULL, true), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_set_return_callback(NULL, NULL, NULL), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_channel_set_return_callback(ch, NULL, NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(last_error_contains("callback is NULL"));

  /* The delivery's new accessors. */
  REQUIRE_OK(warren_channel_queue_declare(ch, STR("q"), 0, NULL, NULL, 0, NULL, NULL, NULL));
  REQUIRE_OK(warren_channel_basic_publish(ch, NULL, 0, STR("q"), STR("m"), NULL, false, NULL));
  warren_delivery *d = NULL;
  REQUIRE_OK(warren_channel_basic_get(ch, STR("q"), true, &d, NULL));
  REQUIRE(d != NULL);
  const warren_properties *p = NULL;
  const uint8_t *s = NULL;
  size_t n = 0;
  EXPECT(warren_delivery_properties(NULL, &p), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_properties(d, NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(p == NULL);
  EXPECT(warren_delivery_consumer_tag(NULL, &s, &n), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_consumer_tag(d, NULL, &n), WARREN_STATUS_NULL_ARGUMENT);
  EXPECT(warren_delivery_consumer_tag(d, &s, NULL), WARREN_STATUS_NULL_ARGUMENT);
  CHECK(warren_delivery_failed_count(NULL) == 0 && warren_delivery_returned_count(NULL) == 0);
  EXPECT(warren_delivery_properties(d, &p), WARREN_STATUS_OK);
  CHECK(p != NULL);
  warren_delivery_free(d);
  warren_channel_free(ch);
  warren_connection_free(conn);
  warren_broker_free(broker);
}

int main(void) {
  test_free_null();
  test_statuses();
  test_null_handles_and_outputs();
  test_bad_strings_and_values();
  test_after_close();
  test_bad_tables();
  test_bad_properties();
  test_bad_options_and_new_calls();
  return finish();
}
