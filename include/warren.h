/*
 * warren.h: the C API of warren, an embeddable message broker with RabbitMQ's semantics.
 *
 * GENERATED FILE, DO NOT EDIT: cbindgen writes it from the Rust sources in src/ffi (see
 * cbindgen.toml); the full conventions are the module documentation of src/ffi/mod.rs.
 *
 * Conventions, in short:
 * - Names are warren_<object>_<verb>(object, inputs..., outputs...). A call that can fail
 *   returns a warren_status: WARREN_STATUS_OK (0), an AMQP reply code under its own number
 *   (404...), or a local status from 1000. After a failure, warren_last_error(buf, len)
 *   copies the error text of this thread, NUL-terminated, and returns its full length.
 * - Outputs are written only on WARREN_STATUS_OK (WARREN_STATUS_BUFFER_TOO_SMALL also writes
 *   the length needed, where documented).
 * - Strings are (const uint8_t *, size_t) pairs, never NUL-terminated; (NULL, 0) is empty.
 *   Names, keys and text properties are UTF-8 of at most WARREN_MAX_NAME_LEN bytes.
 * - Handles are opaque, owned by the caller until their _free; _free(NULL) does nothing;
 *   handles may be freed in any order. Inputs are borrowed for the call only; pointers a
 *   delivery returns stay valid until warren_delivery_free (its body is not copied).
 * - Plain values (warren_table, warren_array, warren_properties, warren_broker_options) are
 *   built with setters and read by the calls that take them during the call only (NULL:
 *   none). Views (const pointers to a delivery's properties and headers, nested tables) are
 *   borrowed from what they were read from: never freed or changed.
 * - Brokers, connections and topic matchers may be shared by threads; a channel, consumer or
 *   delivery is used by one thread at a time. Callbacks say which thread calls them and must
 *   not unwind or longjmp through warren.
 * - Double free, use after free and foreign pointers are the caller's undefined behaviour;
 *   anything else wrong returns a status. No panic crosses into C: it becomes
 *   WARREN_STATUS_PANIC and poisons the handles of that call (WARREN_STATUS_POISONED).
 */

#ifndef WARREN_H
#define WARREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The longest name, key or text property, in bytes (SEMANTICS N1): a buffer of this size
 * holds any queue name or consumer tag.
 */
#define WARREN_MAX_NAME_LEN 255

/**
 * The largest body a broker accepts at most, in bytes: 512 MiB.
 */
#define WARREN_MAX_MESSAGE_SIZE_LIMIT ((512 * 1024) * 1024)

/**
 * The most levels tables and arrays may nest, a top-level table being level 1.
 */
#define WARREN_MAX_NESTING 64

/**
 * The major version of the header, `Cargo.toml`'s.
 */
#define WARREN_VERSION_MAJOR 0

/**
 * The minor version of the header.
 */
#define WARREN_VERSION_MINOR 1

/**
 * The patch version of the header.
 */
#define WARREN_VERSION_PATCH 0

/**
 * The outcome of a C call: `WARREN_STATUS_OK` (0), an AMQP reply code under its own number,
 * or a local status from 1000. After a status other than `WARREN_STATUS_OK`,
 * `warren_last_error` gives the text on the same thread.
 *
 * The numbers are stable: new statuses get new numbers, retired ones are not reused.
 */
typedef enum warren_status {
  /**
   * Success.
   */
  WARREN_STATUS_OK = 0,
  /**
   * 312: a mandatory publish that no queue took (`basic.return`); nothing is closed, and in
   * confirm mode the publish is still confirmed, as RabbitMQ does.
   */
  WARREN_STATUS_NO_ROUTE = 312,
  /**
   * 403: a channel error (e.g. the default exchange or an `amq.` name); the channel closed.
   */
  WARREN_STATUS_ACCESS_REFUSED = 403,
  /**
   * 404: a missing queue or exchange; the channel closed.
   */
  WARREN_STATUS_NOT_FOUND = 404,
  /**
   * 405: another connection's exclusive queue; the channel closed.
   */
  WARREN_STATUS_RESOURCE_LOCKED = 405,
  /**
   * 406: a redeclare with other properties, an unknown delivery tag, a bad argument; the
   * channel closed.
   */
  WARREN_STATUS_PRECONDITION_FAILED = 406,
  /**
   * 503: a connection error; the connection closed.
   */
  WARREN_STATUS_COMMAND_INVALID = 503,
  /**
   * 530: a connection error (e.g. a consumer tag in use, too many channels); the connection
   * closed.
   */
  WARREN_STATUS_NOT_ALLOWED = 530,
  /**
   * 540: not implemented (`immediate`, transactions); the connection closed.
   */
  WARREN_STATUS_NOT_IMPLEMENTED = 540,
  /**
   * 541: an internal error (e.g. the durable store failed while a declare waited); the
   * connection closed. Also used for an AMQP code this enum has no name for: the text
   * gives the real code.
   */
  WARREN_STATUS_INTERNAL_ERROR = 541,
  /**
   * A required pointer argument was NULL, or a (pointer, length) pair had a NULL pointer
   * with a length above 0. Nothing happened.
   */
  WARREN_STATUS_NULL_ARGUMENT = 1000,
  /**
   * A name, key or text property was not valid UTF-8. Nothing happened.
   */
  WARREN_STATUS_INVALID_UTF8 = 1001,
  /**
   * A name, key or text property was over 255 bytes, or a body over 512 MiB. Nothing
   * happened.
   */
  WARREN_STATUS_TOO_LONG = 1002,
  /**
   * A wait ran out of time: a receive, or a wait for confirms (which
   * `warren_channel_wait_for_confirms_or_die` turns into a channel close, 406).
   */
  WARREN_STATUS_TIMEOUT = 1003,
  /**
   * A call on a channel that a close or an error closed; the text repeats the cause.
   */
  WARREN_STATUS_CHANNEL_CLOSED = 1004,
  /**
   * A call on a connection (or one of its channels) after it or its broker closed.
   */
  WARREN_STATUS_CONNECTION_CLOSED = 1005,
  /**
   * The consumer was cancelled (by the application, or by the engine: its queue was deleted,
   * its consumer timeout fired); the text says which.
   */
  WARREN_STATUS_CANCELLED = 1006,
  /**
   * The durable store failed: a data directory that cannot be created, read, written or
   * locked (another broker holds it).
   */
  WARREN_STATUS_STORE = 1007,
  /**
   * A publish was nacked (`warren_channel_wait_for_confirms_or_die`); the channel closed.
   */
  WARREN_STATUS_NACKED = 1008,
  /**
   * A call in a state that does not allow it: waiting for confirms outside confirm mode,
   * receiving from a consumer that has a callback.
   */
  WARREN_STATUS_INVALID_STATE = 1009,
  /**
   * An output buffer was too small; the text says how large it must be. Nothing happened.
   */
  WARREN_STATUS_BUFFER_TOO_SMALL = 1010,
  /**
   * An argument has a value outside its range (an unknown exchange type or flag bit).
   * Nothing happened.
   */
  WARREN_STATUS_INVALID_ARGUMENT = 1011,
  /**
   * warren panicked inside the call (a bug in warren, please report it): the panic was
   * caught at the boundary and the handle the call used is poisoned.
   */
  WARREN_STATUS_PANIC = 1012,
  /**
   * The handle saw a panic in an earlier call; it refuses every call but `_free`.
   */
  WARREN_STATUS_POISONED = 1013,
} warren_status;

/**
 * An AMQP field array: values in order, possibly of mixed types. From `warren_array_new`
 * (owned, freed by `warren_array_free`) or a view borrowed from a table.
 */
typedef struct warren_array warren_array;

/**
 * An in-process broker: exchanges, queues, consumers.
 *
 * Created by `warren_broker_new` (in memory) or `warren_broker_open` (durable, on a data
 * directory); freed by `warren_broker_free`. Thread-safe: any number of threads may use one
 * broker at once. Its connections keep what they need alive, so it may be freed before
 * them.
 */
typedef struct warren_broker warren_broker;

/**
 * Broker settings, from `warren_broker_options_new`; freed by `warren_broker_options_free`.
 */
typedef struct warren_broker_options warren_broker_options;

/**
 * A channel, from `warren_connection_create_channel`; freed by `warren_channel_free`, which
 * closes it once its consumers are gone too.
 *
 * One thread at a time (AMQP's model: a channel per thread). Calls from several threads at
 * once are memory-safe, but their order (and the confirm numbers of their publishes) is then
 * a race. A channel error (a 4xx status) closes the channel; later calls return
 * `WARREN_STATUS_CHANNEL_CLOSED` with the cause in the text.
 */
typedef struct warren_channel warren_channel;

/**
 * A connection to a broker, from `warren_broker_connect`; freed by `warren_connection_free`.
 *
 * Thread-safe: several threads may open channels on one connection at once. Its channels
 * keep it alive, so it may be freed before them; closing it (or freeing its last handle and
 * channels) closes its channels and deletes its exclusive queues.
 */
typedef struct warren_connection warren_connection;

/**
 * A consumer, from `warren_channel_basic_consume`; freed by `warren_consumer_free`.
 *
 * One thread at a time receives (`warren_consumer_recv`), or its callback thread does. It
 * keeps its channel open. Freeing it without `warren_consumer_cancel` is a consumer loss: its
 * unacked deliveries go back to the queue at once, `redelivered` (SEMANTICS A7), and acking
 * them afterwards changes nothing.
 */
typedef struct warren_consumer warren_consumer;

/**
 * A message handed to the application by `warren_consumer_recv`, a consumer callback or
 * `warren_channel_basic_get`; freed by `warren_delivery_free`.
 *
 * Every pointer its accessors return points into the delivery (the body is the published
 * buffer itself, shared by every queue it reached, not a copy) and stays valid until
 * `warren_delivery_free`. Freeing it does not settle it: ack, nack or reject it first (or
 * by tag on its channel), unless it came from a `no_ack` consumer or get. May be used from
 * any thread, one at a time.
 */
typedef struct warren_delivery warren_delivery;

/**
 * Message properties (SEMANTICS P3): from `warren_properties_new` (owned, freed by
 * `warren_properties_free`) or a view borrowed from a delivery or a returned message.
 */
typedef struct warren_properties warren_properties;

/**
 * An AMQP field table: field names mapped to typed values, in bytewise name order. From
 * `warren_table_new` (owned, freed by `warren_table_free`) or a view borrowed from a delivery
 * or another table (see the module conventions above: views are never freed or changed).
 */
typedef struct warren_table warren_table;

/**
 * A topic matcher, from `warren_topic_new`; freed by `warren_topic_free`.
 *
 * Thread-safe: any number of threads may route, bind and unbind at once; routing takes no
 * lock. A route that starts after a bind or unbind returned sees its effect.
 */
typedef struct warren_topic warren_topic;

/**
 * An exchange type: one of the `WARREN_EXCHANGE_TYPE_*` values (SEMANTICS E1). A `uint32_t` in
 * C; the field is public so that Rust callers of the C ABI (the bench, the fuzzer) can pass
 * any number, as C can.
 */
typedef uint32_t warren_exchange_type;

/**
 * `warren_channel_exchange_declare` flags: an OR of `WARREN_EXCHANGE_*` flag bits.
 */
typedef uint32_t warren_exchange_flags;

/**
 * `warren_channel_queue_declare` and `warren_channel_queue_delete` flags: an OR of
 * `WARREN_QUEUE_*` flag bits.
 */
typedef uint32_t warren_queue_flags;

/**
 * A message returned to its publisher (`basic.return`, SEMANTICS P2), as the return callback
 * sees it. Every pointer is borrowed for the callback call only: copy what must outlive it
 * (the properties with `warren_table_copy` of their headers and the getters; the body with
 * `memcpy`).
 */
typedef struct warren_returned_message {
  /**
   * The AMQP reply code: 312.
   */
  uint16_t reply_code;
  /**
   * The reply text, `NO_ROUTE` (not NUL-terminated).
   */
  const uint8_t *reply_text;
  /**
   * The length of `reply_text`.
   */
  size_t reply_text_len;
  /**
   * The exchange it was published to (empty: the default exchange).
   */
  const uint8_t *exchange;
  /**
   * The length of `exchange`.
   */
  size_t exchange_len;
  /**
   * Its routing key.
   */
  const uint8_t *routing_key;
  /**
   * The length of `routing_key`.
   */
  size_t routing_key_len;
  /**
   * Its properties, as published: a view, read with the `warren_properties_*` getters.
   */
  const struct warren_properties *properties;
  /**
   * Its body (the published buffer, not a copy).
   */
  const uint8_t *body;
  /**
   * The length of `body`.
   */
  size_t body_len;
} warren_returned_message;

/**
 * Called with each message returned to a publisher of this channel (a `mandatory` publish
 * that no queue took, SEMANTICS P2): `message` and everything it points to are borrowed for
 * the call only.
 */
typedef void (*warren_return_callback)(void *userdata, const struct warren_returned_message *message);

/**
 * Called with each publisher confirm of a channel in confirm mode: `seq` is the publish's
 * sequence number (or, with `multiple`, the highest of the numbers it covers: every one not
 * reported before up to `seq`); `ack` is true for an ack, false for a nack.
 */
typedef void (*warren_confirm_callback)(void *userdata, uint64_t seq, bool multiple, bool ack);

/**
 * Called with each delivery of a consumer that has a callback: `delivery` is owned by the
 * callback, which must free it (`warren_delivery_free`), now or later, from any thread. A
 * last call with `delivery == NULL` says the consumer ended.
 */
typedef void (*warren_delivery_callback)(void *userdata, struct warren_delivery *delivery);

/**
 * The type of a `warren_value`: one of the `WARREN_VALUE_*` values.
 */
typedef uint32_t warren_value_kind;

/**
 * One value read from a table or an array: `kind` says which field holds it; the other fields
 * are zero or NULL. Written whole by `warren_table_get`, `warren_table_entry` and
 * `warren_array_get`.
 *
 * `bytes`, `table` and `array` are views into what the value was read from, valid as long as
 * that is (see the module conventions): copy what must outlive it. For a string or byte
 * array of length 0, `bytes` is not NULL but must not be read.
 */
typedef struct warren_value {
  /**
   * The value's type, a `WARREN_VALUE_*` value.
   */
  warren_value_kind kind;
  /**
   * `WARREN_VALUE_BOOL`.
   */
  bool boolean;
  /**
   * `WARREN_VALUE_I8`, `_I16`, `_I32`, `_I64`.
   */
  int64_t int_value;
  /**
   * `WARREN_VALUE_U8`, `_U16`, `_U32`, `_U64`, `_TIMESTAMP`, and the unscaled value of
   * `_DECIMAL`.
   */
  uint64_t uint_value;
  /**
   * `WARREN_VALUE_FLOAT` and `_DOUBLE`.
   */
  double float_value;
  /**
   * The scale of `WARREN_VALUE_DECIMAL`: digits after the decimal point.
   */
  uint8_t decimal_scale;
  /**
   * `WARREN_VALUE_STRING` and `_BYTES`: the bytes (a view).
   */
  const uint8_t *bytes;
  /**
   * The length of `bytes`.
   */
  size_t bytes_len;
  /**
   * `WARREN_VALUE_TABLE`: a view of the nested table.
   */
  const struct warren_table *table;
  /**
   * `WARREN_VALUE_ARRAY`: a view of the array.
   */
  const struct warren_array *array;
} warren_value;

/**
 * `direct`: the routing key equals the binding key.
 */
#define WARREN_EXCHANGE_TYPE_DIRECT 0

/**
 * `fanout`: every bound queue, keys ignored.
 */
#define WARREN_EXCHANGE_TYPE_FANOUT 1

/**
 * `topic`: binding keys are patterns, `*` one word, `#` zero or more.
 */
#define WARREN_EXCHANGE_TYPE_TOPIC 2

/**
 * `headers`: matches message headers (no headers from C yet: see the module limits).
 */
#define WARREN_EXCHANGE_TYPE_HEADERS 3

/**
 * Only check that the exchange exists (404 if not).
 */
#define WARREN_EXCHANGE_PASSIVE 1

/**
 * Survives a restart of a durable broker.
 */
#define WARREN_EXCHANGE_DURABLE 2

/**
 * Deleted with its last binding as a source.
 */
#define WARREN_EXCHANGE_AUTO_DELETE 4

/**
 * Refuses direct publishes; reachable through exchange bindings only.
 */
#define WARREN_EXCHANGE_INTERNAL 8

/**
 * `warren_channel_exchange_delete`: refuse (406) while the exchange is a binding source.
 */
#define WARREN_EXCHANGE_IF_UNUSED 16

/**
 * Declare: only check that the queue exists (404) and is usable (405).
 */
#define WARREN_QUEUE_PASSIVE 1

/**
 * Declare: survives a restart of a durable broker.
 */
#define WARREN_QUEUE_DURABLE 2

/**
 * Declare: owned by this connection and deleted when it closes.
 */
#define WARREN_QUEUE_EXCLUSIVE 4

/**
 * Declare: deleted when its last consumer goes.
 */
#define WARREN_QUEUE_AUTO_DELETE 8

/**
 * Delete: refuse (406) while the queue has consumers.
 */
#define WARREN_QUEUE_IF_UNUSED 16

/**
 * Delete: refuse (406) while the queue has ready messages.
 */
#define WARREN_QUEUE_IF_EMPTY 32

/**
 * No value (AMQP `V`); as a headers binding argument it asks only that the header be present.
 */
#define WARREN_VALUE_VOID 0

/**
 * A boolean, in `boolean`.
 */
#define WARREN_VALUE_BOOL 1

/**
 * A signed 8-bit integer, in `int_value`.
 */
#define WARREN_VALUE_I8 2

/**
 * An unsigned 8-bit integer, in `uint_value`.
 */
#define WARREN_VALUE_U8 3

/**
 * A signed 16-bit integer, in `int_value`.
 */
#define WARREN_VALUE_I16 4

/**
 * An unsigned 16-bit integer, in `uint_value`.
 */
#define WARREN_VALUE_U16 5

/**
 * A signed 32-bit integer, in `int_value`.
 */
#define WARREN_VALUE_I32 6

/**
 * An unsigned 32-bit integer, in `uint_value`.
 */
#define WARREN_VALUE_U32 7

/**
 * A signed 64-bit integer, in `int_value`.
 */
#define WARREN_VALUE_I64 8

/**
 * An unsigned 64-bit integer, in `uint_value`.
 */
#define WARREN_VALUE_U64 9

/**
 * A 32-bit float, in `float_value` (widened exactly).
 */
#define WARREN_VALUE_FLOAT 10

/**
 * A 64-bit float, in `float_value`.
 */
#define WARREN_VALUE_DOUBLE 11

/**
 * A decimal: `uint_value` × 10^-`decimal_scale` (the unscaled value fits 32 bits).
 */
#define WARREN_VALUE_DECIMAL 12

/**
 * A long string (bytes, conventionally UTF-8, not checked), in `bytes` and `bytes_len`.
 */
#define WARREN_VALUE_STRING 13

/**
 * A byte array (AMQP `x`), in `bytes` and `bytes_len`.
 */
#define WARREN_VALUE_BYTES 14

/**
 * A timestamp, seconds since the Unix epoch, in `uint_value`.
 */
#define WARREN_VALUE_TIMESTAMP 15

/**
 * A nested table, a view in `table`.
 */
#define WARREN_VALUE_TABLE 16

/**
 * An array, a view in `array`.
 */
#define WARREN_VALUE_ARRAY 17

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Copies this thread's last error text into `buf`, NUL-terminated and truncated to fit
 * `len` bytes (nothing is written when `buf` is NULL or `len` is 0), and returns the text's
 * full length in bytes, without the NUL: a return value `>= len` means the copy was cut.
 *
 * The text is that of the last call on this thread that returned a status other than
 * `WARREN_STATUS_OK` (successful calls leave it as it was); empty before any failure. It is
 * lowercase English and names the bad input, e.g. `channel closed by an error: 404
 * NOT_FOUND - no queue 'jobs' in vhost '/'`.
 *
 * # Safety
 *
 * `buf` is NULL or points to `len` writable bytes.
 */
size_t warren_last_error(char *buf, size_t len);

/**
 * Creates an in-memory broker with default options and writes it to `*broker_out`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `broker_out` is NULL.
 *
 * # Safety
 *
 * `broker_out` is NULL or points to a writable `warren_broker *`.
 */
enum warren_status warren_broker_new(struct warren_broker **broker_out);

/**
 * Creates an in-memory broker with `options` (NULL: the defaults, as `warren_broker_new`)
 * and writes it to `*broker_out`. The options are copied: free them when you like.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `broker_out` is NULL.
 *
 * # Safety
 *
 * `options` is NULL or a live `warren_broker_options`; `broker_out` is NULL or points to a
 * writable `warren_broker *`.
 */
enum warren_status warren_broker_new_with_options(const struct warren_broker_options *options,
                                                  struct warren_broker **broker_out);

/**
 * Opens a durable broker on the data directory `dir` (created if missing; its bytes are the
 * path, not NUL-terminated) with default options and writes it to `*broker_out`. What the
 * directory holds is recovered first: durable exchanges, queues and bindings, and persistent
 * messages in durable queues (SEMANTICS S2-S5). Close it with `warren_broker_close` (or free
 * it) so the next open sees a clean shutdown.
 *
 * # Errors
 *
 * `WARREN_STATUS_STORE` when the directory cannot be created, read or written, or another
 * broker holds it; `WARREN_STATUS_INVALID_ARGUMENT` for an empty `dir` (nothing is touched);
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `broker_out` or a NULL `dir` with a length;
 * `WARREN_STATUS_INVALID_UTF8` for a path that is not UTF-8 on a system whose paths are not
 * bytes (not on Unix).
 *
 * # Safety
 *
 * `dir` is NULL or points to `dir_len` readable bytes; `broker_out` is NULL or points to a
 * writable `warren_broker *`.
 */
enum warren_status warren_broker_open(const uint8_t *dir,
                                      size_t dir_len,
                                      struct warren_broker **broker_out);

/**
 * As `warren_broker_open`, with `options` (NULL: the defaults), copied.
 *
 * # Errors
 *
 * As `warren_broker_open`.
 *
 * # Safety
 *
 * As `warren_broker_open`; `options` is NULL or a live `warren_broker_options`.
 */
enum warren_status warren_broker_open_with_options(const uint8_t *dir,
                                                   size_t dir_len,
                                                   const struct warren_broker_options *options,
                                                   struct warren_broker **broker_out);

/**
 * Closes the broker: every channel closes (unacked deliveries go back to their queues), then
 * a durable broker writes what it holds, syncs and records a clean shutdown. Later calls on
 * its connections and channels return `WARREN_STATUS_CONNECTION_CLOSED` or
 * `WARREN_STATUS_CHANNEL_CLOSED`. Closing twice does nothing. The handle still needs
 * `warren_broker_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `broker` is NULL.
 *
 * # Safety
 *
 * `broker` is NULL or a live handle from `warren_broker_new` or `warren_broker_open`.
 */
enum warren_status warren_broker_close(const struct warren_broker *broker);

/**
 * Frees the broker handle; NULL does nothing. The broker itself lives on while connections
 * made from it do; a durable broker whose last handle and connection go is closed cleanly.
 *
 * # Safety
 *
 * `broker` is NULL or a live handle from `warren_broker_new` or `warren_broker_open`, not
 * used by any call now or after this one.
 */
void warren_broker_free(struct warren_broker *broker);

/**
 * Moves the broker's manual clock (`warren_broker_options_set_manual_clock`) forward by
 * `ms` milliseconds, then runs on this thread what falls due meanwhile (consumer timeouts,
 * SEMANTICS A9), before returning.
 *
 * # Errors
 *
 * `WARREN_STATUS_INVALID_STATE` for a broker on the system clock (nothing happens);
 * `WARREN_STATUS_NULL_ARGUMENT` if `broker` is NULL.
 *
 * # Safety
 *
 * `broker` is NULL or a live broker handle.
 */
enum warren_status warren_broker_advance_clock(const struct warren_broker *broker, uint64_t ms);

/**
 * Opens a connection to the broker and writes it to `*connection_out`; free it with
 * `warren_connection_free`. After `warren_broker_close` the connection starts closed.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `broker` is NULL or a live broker handle; `connection_out` is NULL or points to a writable
 * `warren_connection *`.
 */
enum warren_status warren_broker_connect(const struct warren_broker *broker,
                                         struct warren_connection **connection_out);

/**
 * Declares an exchange `exchange` of type `kind` with `flags` (`WARREN_EXCHANGE_PASSIVE`,
 * `_DURABLE`, `_AUTO_DELETE`, `_INTERNAL`) and `arguments` (SEMANTICS E1, E4, E7, E10).
 *
 * `arguments` is a field table (NULL: none), read during the call only, e.g.
 * `alternate-exchange` (a long string, SEMANTICS E7).
 *
 * # Errors
 *
 * 403 (`WARREN_STATUS_ACCESS_REFUSED`) for `""` or a new `amq.` name; 406 for a redeclare
 * with another type, flags or alternate exchange, or an invalid argument; 404 for a passive
 * declare of a missing exchange (each closes the channel); `WARREN_STATUS_INVALID_ARGUMENT`
 * for an unknown type or flag bit; the input statuses of the module conventions.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `exchange` is NULL or points to `exchange_len`
 * readable bytes; `arguments` is NULL, a live table or a valid view.
 */
enum warren_status warren_channel_exchange_declare(const struct warren_channel *channel,
                                                   const uint8_t *exchange,
                                                   size_t exchange_len,
                                                   warren_exchange_type kind,
                                                   warren_exchange_flags flags,
                                                   const struct warren_table *arguments);

/**
 * Deletes an exchange and its bindings (SEMANTICS E11); a missing one is no error. `flags`
 * may hold `WARREN_EXCHANGE_IF_UNUSED`.
 *
 * # Errors
 *
 * 403 for `""` and `amq.` exchanges; 406 with `WARREN_EXCHANGE_IF_UNUSED` while it is a
 * binding source (each closes the channel); the input statuses of the module conventions.
 *
 * # Safety
 *
 * As `warren_channel_exchange_declare`.
 */
enum warren_status warren_channel_exchange_delete(const struct warren_channel *channel,
                                                  const uint8_t *exchange,
                                                  size_t exchange_len,
                                                  warren_exchange_flags flags);

/**
 * Declares a queue `queue` with `flags` (`WARREN_QUEUE_PASSIVE`, `_DURABLE`, `_EXCLUSIVE`,
 * `_AUTO_DELETE`) and `arguments` (SEMANTICS Q1-Q8). An empty name asks for a server-named
 * queue (`amq.gen-...`): the name comes back through `name_buf`.
 *
 * `arguments` is a field table (NULL: none), read during the call only: `x-queue-type`,
 * `x-consumer-timeout`, `x-message-ttl`, `x-max-length`, `x-dead-letter-exchange`... as
 * SEMANTICS defines them; the engine parses and checks them (406 for a wrong type or value).
 *
 * Outputs, each optional (NULL when not wanted): the queue's name copied to `name_buf` (not
 * NUL-terminated) with its length in `*name_len_out`, its ready messages in
 * `*message_count_out` and its consumers in `*consumer_count_out`. A `name_buf` must hold
 * the name: `queue_len` bytes, or `WARREN_MAX_NAME_LEN` (255) for a server-named queue;
 * that is checked before anything happens.
 *
 * # Errors
 *
 * 406 for a redeclare with other flags or arguments (SEMANTICS Q2), or an invalid argument;
 * 405 for another connection's exclusive queue; 404 for a passive declare of a missing one;
 * 403 for a new `amq.` name (each closes the channel);
 * `WARREN_STATUS_BUFFER_TOO_SMALL` (nothing declared) when `name_cap` is below the
 * size above; `WARREN_STATUS_INVALID_ARGUMENT` for an unknown flag bit; the input statuses of
 * the module conventions.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
 * readable bytes; `arguments` is NULL, a live table or a valid view; `name_buf` is NULL or
 * points to `name_cap` writable bytes; each count or length output is NULL or points to a
 * writable value of its type.
 */
enum warren_status warren_channel_queue_declare(const struct warren_channel *channel,
                                                const uint8_t *queue,
                                                size_t queue_len,
                                                warren_queue_flags flags,
                                                const struct warren_table *arguments,
                                                uint8_t *name_buf,
                                                size_t name_cap,
                                                size_t *name_len_out,
                                                uint32_t *message_count_out,
                                                uint32_t *consumer_count_out);

/**
 * Binds queue `queue` to exchange `exchange` with binding key `routing_key` and `arguments`
 * (SEMANTICS E3, E5, Q6): an empty queue name means the channel's last declared queue.
 *
 * `arguments` is a field table (NULL: none), read during the call only: for a headers
 * exchange, the header terms and `x-match` (SEMANTICS E3). A binding is the set (queue,
 * exchange, key, arguments): unbinding needs equal arguments.
 *
 * # Errors
 *
 * 404 for a missing queue or exchange, 403 for the default exchange, 405 for another
 * connection's exclusive queue, 406 for invalid headers arguments (each closes the
 * channel); the input statuses of the module conventions.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
 * to that many readable bytes; `arguments` is NULL, a live table or a valid view.
 */
enum warren_status warren_channel_queue_bind(const struct warren_channel *channel,
                                             const uint8_t *queue,
                                             size_t queue_len,
                                             const uint8_t *exchange,
                                             size_t exchange_len,
                                             const uint8_t *routing_key,
                                             size_t routing_key_len,
                                             const struct warren_table *arguments);

/**
 * Removes a queue binding, matched by queue, exchange, key and arguments; a missing binding
 * is no error (SEMANTICS Q10).
 *
 * # Errors
 *
 * As `warren_channel_queue_bind`.
 *
 * # Safety
 *
 * As `warren_channel_queue_bind`.
 */
enum warren_status warren_channel_queue_unbind(const struct warren_channel *channel,
                                               const uint8_t *queue,
                                               size_t queue_len,
                                               const uint8_t *exchange,
                                               size_t exchange_len,
                                               const uint8_t *routing_key,
                                               size_t routing_key_len,
                                               const struct warren_table *arguments);

/**
 * Binds exchange `destination` to exchange `source` with binding key `routing_key` and
 * `arguments` (NULL: none): what `source` routes is routed on by `destination`, as if
 * published to it with the same key and headers (SEMANTICS E5, E6; cycles are harmless, each
 * exchange is visited once per message). AMQP's argument order: destination first.
 *
 * # Errors
 *
 * 403 if either is the default exchange `""`; 404 if either is missing; 406 for invalid
 * arguments (each closes the channel); the input statuses of the module conventions.
 *
 * # Safety
 *
 * As `warren_channel_queue_bind`.
 */
enum warren_status warren_channel_exchange_bind(const struct warren_channel *channel,
                                                const uint8_t *destination,
                                                size_t destination_len,
                                                const uint8_t *source,
                                                size_t source_len,
                                                const uint8_t *routing_key,
                                                size_t routing_key_len,
                                                const struct warren_table *arguments);

/**
 * Removes an exchange-to-exchange binding, matched by destination, source, key and
 * arguments; a missing binding is no error (SEMANTICS E11).
 *
 * # Errors
 *
 * As `warren_channel_exchange_bind`.
 *
 * # Safety
 *
 * As `warren_channel_queue_bind`.
 */
enum warren_status warren_channel_exchange_unbind(const struct warren_channel *channel,
                                                  const uint8_t *destination,
                                                  size_t destination_len,
                                                  const uint8_t *source,
                                                  size_t source_len,
                                                  const uint8_t *routing_key,
                                                  size_t routing_key_len,
                                                  const struct warren_table *arguments);

/**
 * Deletes a queue (SEMANTICS Q9): its ready messages are discarded, their number written to
 * `*message_count_out` (optional), its consumers cancelled. `flags` may hold
 * `WARREN_QUEUE_IF_UNUSED` and `WARREN_QUEUE_IF_EMPTY`. A missing queue is no error.
 *
 * # Errors
 *
 * 406 with `WARREN_QUEUE_IF_UNUSED` or `WARREN_QUEUE_IF_EMPTY` when the queue is in use or
 * not empty, 405 for another connection's exclusive queue (each closes the channel);
 * `WARREN_STATUS_INVALID_ARGUMENT` for another flag bit; the input statuses.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
 * readable bytes; `message_count_out` is NULL or writable.
 */
enum warren_status warren_channel_queue_delete(const struct warren_channel *channel,
                                               const uint8_t *queue,
                                               size_t queue_len,
                                               warren_queue_flags flags,
                                               uint32_t *message_count_out);

/**
 * Removes a queue's ready messages and writes how many to `*message_count_out` (optional)
 * (SEMANTICS Q10).
 *
 * # Errors
 *
 * 404 for a missing queue, 405 for another connection's exclusive queue (each closes the
 * channel); the input statuses.
 *
 * # Safety
 *
 * As `warren_channel_queue_delete`.
 */
enum warren_status warren_channel_queue_purge(const struct warren_channel *channel,
                                              const uint8_t *queue,
                                              size_t queue_len,
                                              uint32_t *message_count_out);

/**
 * Sets the prefetch (SEMANTICS D3, D4): with `global` false, the most unacked deliveries each
 * consumer created after this call may hold; with `global` true, one cap shared by the
 * channel's consumers. 0 is unlimited. Prefetch 1 is fair dispatch.
 *
 * # Errors
 *
 * `WARREN_STATUS_CHANNEL_CLOSED` on a closed channel; `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_basic_qos(const struct warren_channel *channel,
                                            uint16_t prefetch_count,
                                            bool global);

/**
 * Publishes a message to `exchange` (empty: the default exchange, where the routing key
 * names the queue) with `routing_key` (SEMANTICS P1-P5). The body is copied once into a
 * buffer that every queue it reaches shares. `properties` (from `warren_properties_new`, or
 * a view such as a delivery's) is read during the call only and may be reused or freed
 * after it; NULL publishes with no property set, the fastest path.
 *
 * On success `*queues_out` (optional) gets the number of queues that took the message: 0
 * means it was unroutable and, not being `mandatory`, dropped.
 *
 * # Errors
 *
 * `WARREN_STATUS_NO_ROUTE` (312) when `mandatory` and no queue took it: the message is
 * returned (to the return callback first, if one is set), nothing closes (in confirm mode it
 * is still confirmed). 404 for a missing exchange, 403 for an internal one, 406 for a body
 * over the broker's size limit, an invalid `expiration`, a `CC` or `BCC` header that is no
 * array or a bad `reply_to` (each closes the channel); `WARREN_STATUS_TOO_LONG` for a body
 * over 512 MiB; `WARREN_STATUS_INVALID_STATE` for a `mandatory` publish on this channel from
 * inside its own return callback (it could be returned into the callback it is called from);
 * the input statuses. A failed publish routed nothing.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
 * to that many readable bytes; `properties` is NULL, a live `warren_properties` or a valid
 * view, not changed during the call; `queues_out` is NULL or writable.
 */
enum warren_status warren_channel_basic_publish(const struct warren_channel *channel,
                                                const uint8_t *exchange,
                                                size_t exchange_len,
                                                const uint8_t *routing_key,
                                                size_t routing_key_len,
                                                const uint8_t *body_ptr,
                                                size_t body_len,
                                                const struct warren_properties *properties,
                                                bool mandatory,
                                                size_t *queues_out);

/**
 * Sets the channel's return callback: `callback(userdata, message)` with each message a
 * `mandatory` publish on this channel returns (SEMANTICS P2). It replaces an earlier one (a
 * call in progress on another thread finishes first).
 *
 * Which thread calls it: the publishing thread, inside `warren_channel_basic_publish` of this
 * channel, before that returns `WARREN_STATUS_NO_ROUTE` (and, in confirm mode, before the
 * publish's confirm): nowhere else. It may publish on other channels, and non-`mandatory`
 * messages on this one; a `mandatory` publish on this channel or a
 * `warren_channel_set_return_callback` on it from inside the callback is refused with
 * `WARREN_STATUS_INVALID_STATE`. It must return normally.
 *
 * # Errors
 *
 * `WARREN_STATUS_INVALID_STATE` from inside this channel's return callback;
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `channel` or `callback`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle. `userdata` may be used from the threads that
 * publish on this channel and stays valid while they may publish on it (until the callback is
 * replaced, or the channel closed or freed).
 */
enum warren_status warren_channel_set_return_callback(const struct warren_channel *channel,
                                                      warren_return_callback callback,
                                                      void *userdata);

/**
 * Starts a consumer on `queue` (empty: the channel's last declared queue) and writes its
 * handle to `*consumer_out` (SEMANTICS D1-D8). An empty `consumer_tag` asks for a generated
 * one (`warren_consumer_tag` gives it). With `no_ack`, deliveries are settled on hand-over;
 * otherwise each must be acked, nacked or rejected, and the channel's prefetch
 * (`warren_channel_basic_qos`) caps how many one consumer holds. `exclusive` makes it the
 * queue's only consumer. `arguments` is a field table (NULL: none), read during the call
 * only: `x-priority` (SEMANTICS D5), `x-consumer-timeout` (A9).
 *
 * Receive with `warren_consumer_recv` or `warren_consumer_set_callback`; free with
 * `warren_consumer_free` (which, without `warren_consumer_cancel`, puts its unacked
 * deliveries back in the queue).
 *
 * # Errors
 *
 * 404 for a missing queue, 405 for another connection's exclusive queue, 403 when an
 * exclusive consumer holds the queue, 406 for an invalid argument (each closes the
 * channel); 530 for a tag in use on the channel (closes the connection); the input statuses.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
 * to that many readable bytes; `arguments` is NULL, a live table or a valid view;
 * `consumer_out` is NULL or points to a writable `warren_consumer *`.
 */
enum warren_status warren_channel_basic_consume(const struct warren_channel *channel,
                                                const uint8_t *queue,
                                                size_t queue_len,
                                                const uint8_t *consumer_tag,
                                                size_t consumer_tag_len,
                                                bool no_ack,
                                                bool exclusive,
                                                const struct warren_table *arguments,
                                                struct warren_consumer **consumer_out);

/**
 * Takes the head message of `queue` (SEMANTICS D9), ignoring prefetch: writes a delivery
 * handle to `*delivery_out` (free it with `warren_delivery_free`; unless `no_ack`, settle
 * it), or NULL when the queue is empty; `*message_count_out` (optional) gets the ready
 * messages left.
 *
 * # Errors
 *
 * 404 for a missing queue, 405 for another connection's exclusive queue (each closes the
 * channel); the input statuses.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
 * readable bytes; `delivery_out` is NULL or points to a writable `warren_delivery *`;
 * `message_count_out` is NULL or writable.
 */
enum warren_status warren_channel_basic_get(const struct warren_channel *channel,
                                            const uint8_t *queue,
                                            size_t queue_len,
                                            bool no_ack,
                                            struct warren_delivery **delivery_out,
                                            uint32_t *message_count_out);

/**
 * Acknowledges the delivery `delivery_tag` of this channel, or with `multiple` every unacked
 * one up to it (0 = all) (SEMANTICS A2). A tag whose consumer went away (its message is
 * already back in the queue) is no error and changes nothing (A8).
 *
 * # Errors
 *
 * 406 "unknown delivery tag" for a tag never issued or already settled, which closes the
 * channel; `WARREN_STATUS_CHANNEL_CLOSED`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_basic_ack(const struct warren_channel *channel,
                                            uint64_t delivery_tag,
                                            bool multiple);

/**
 * Rejects the delivery `delivery_tag`, or with `multiple` every unacked one up to it
 * (SEMANTICS A4): `requeue` puts them back at their places, otherwise they are dropped.
 *
 * # Errors
 *
 * As `warren_channel_basic_ack`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_basic_nack(const struct warren_channel *channel,
                                             uint64_t delivery_tag,
                                             bool multiple,
                                             bool requeue);

/**
 * Rejects the one delivery `delivery_tag` (SEMANTICS A4): `requeue` puts it back at its
 * place, otherwise it is dropped.
 *
 * # Errors
 *
 * As `warren_channel_basic_ack`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_basic_reject(const struct warren_channel *channel,
                                               uint64_t delivery_tag,
                                               bool requeue);

/**
 * Requeues every unacked delivery of the channel (SEMANTICS A11): they go back to their
 * queues at their places, `redelivered`, and their returned count grows by one (A10);
 * settling them afterwards changes nothing (A8). `requeue` must be true.
 *
 * # Errors
 *
 * 540 (`WARREN_STATUS_NOT_IMPLEMENTED`, closing the connection) when `requeue` is false, as
 * RabbitMQ; `WARREN_STATUS_CHANNEL_CLOSED`; `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_basic_recover(const struct warren_channel *channel, bool requeue);

/**
 * Puts the channel in confirm mode (SEMANTICS C1): from now on each publish gets a sequence
 * number, from 1, and exactly one outcome, ack or nack. A persistent message reaching a
 * durable queue of a durable broker is acked once the fsync covering it is done (C2); others
 * at once. Repeating it does nothing.
 *
 * # Errors
 *
 * `WARREN_STATUS_CHANNEL_CLOSED`; `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_confirm_select(const struct warren_channel *channel);

/**
 * The sequence number the next publish will get in confirm mode; 0 outside it, and for a
 * NULL or poisoned channel.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
uint64_t warren_channel_next_publish_seq_no(const struct warren_channel *channel);

/**
 * Waits at most `timeout_ms` until every publish so far has its outcome (SEMANTICS C6), and
 * writes to `*all_acked_out` whether all outcomes since the previous wait were acks (false:
 * at least one nack).
 *
 * # Errors
 *
 * `WARREN_STATUS_TIMEOUT` when the time runs out first (nothing closes);
 * `WARREN_STATUS_INVALID_STATE` outside confirm mode; `WARREN_STATUS_CHANNEL_CLOSED` if the
 * channel closes meanwhile; `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `all_acked_out` is NULL or writable.
 */
enum warren_status warren_channel_wait_for_confirms(const struct warren_channel *channel,
                                                    uint64_t timeout_ms,
                                                    bool *all_acked_out);

/**
 * As `warren_channel_wait_for_confirms`, but a nack or a timeout is an error that closes the
 * channel (SEMANTICS C6), as the Java client's `waitForConfirmsOrDie` does.
 *
 * # Errors
 *
 * `WARREN_STATUS_NACKED` after a nack; `WARREN_STATUS_TIMEOUT` on timeout (the channel is
 * closed with 406 "TIMEOUT WAITING FOR ACK"); otherwise as `warren_channel_wait_for_confirms`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_wait_for_confirms_or_die(const struct warren_channel *channel,
                                                           uint64_t timeout_ms);

/**
 * Sets the channel's confirm callback (SEMANTICS C5c; tutorial 7's third strategy): `callback`
 * is called with `userdata` and each confirm. It replaces an earlier one; set before
 * `warren_channel_confirm_select`, it is kept until confirm mode starts.
 *
 * Which thread calls it: the publishing thread, inside `warren_channel_basic_publish`, for
 * outcomes known at once; the durable store's thread for those that waited for an fsync.
 * Calls for one channel never overlap. It may publish on this channel and replace itself. It
 * must return normally and quickly (it delays the publish or the store). The callback and
 * `warren_channel_wait_for_confirms` are told independently: a wait may return before the
 * callback has seen the last outcomes.
 *
 * When this call replaces a callback, it first waits for a call of the old one running on
 * another thread to return: afterwards the old callback is not called again and its userdata
 * is free to go (called from inside the old callback, it cannot wait for itself: the old
 * userdata is then unused once that callback returns). So do not hold a lock the callback
 * takes while calling this (nor `warren_channel_close` or `warren_channel_free`).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `channel` or `callback`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle. `userdata` may be used from the threads above
 * and stays valid until the callback is replaced (this function returned), or
 * `warren_channel_close` returned, or the `warren_channel_free` (or last
 * `warren_consumer_free`) that closed the channel returned, or its connection's or broker's
 * close returned; from inside the callback itself, until that callback returns.
 */
enum warren_status warren_channel_set_confirm_callback(const struct warren_channel *channel,
                                                       warren_confirm_callback callback,
                                                       void *userdata);

/**
 * Closes the channel (SEMANTICS A7): its consumers end and its unacked deliveries go back to
 * their queues, `redelivered`; pending confirms get no outcome (C7). Closing twice does
 * nothing more; the handle still needs `warren_channel_free`.
 *
 * Once it returns, the confirm callback is not running on another thread and is not called
 * again (even if the channel was already closed, e.g. by its connection on another thread):
 * its userdata may go. Called from inside the confirm callback, it cannot wait for that call.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `channel` is NULL.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle.
 */
enum warren_status warren_channel_close(const struct warren_channel *channel);

/**
 * Frees the channel handle; NULL does nothing. The channel closes once this handle and its
 * consumers are gone (deliveries do not keep it open); a free that closes it returns, as
 * `warren_channel_close` does, once no confirm callback runs.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle, not used by any call now or after this one.
 */
void warren_channel_free(struct warren_channel *channel);

/**
 * Opens a channel on the connection and writes it to `*channel_out`; free it with
 * `warren_channel_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_CONNECTION_CLOSED` once the connection or its broker closed (the text gives
 * the cause); `WARREN_STATUS_NOT_ALLOWED` (530) past the channel limit, which closes the
 * connection; `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `connection` is NULL or a live connection handle; `channel_out` is NULL or points to a
 * writable `warren_channel *`.
 */
enum warren_status warren_connection_create_channel(const struct warren_connection *connection,
                                                    struct warren_channel **channel_out);

/**
 * Closes the connection: its channels close (unacked deliveries go back to their queues,
 * `redelivered`) and its exclusive queues are deleted. Closing twice does nothing; the handle
 * still needs `warren_connection_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `connection` is NULL.
 *
 * # Safety
 *
 * `connection` is NULL or a live connection handle.
 */
enum warren_status warren_connection_close(const struct warren_connection *connection);

/**
 * Frees the connection handle; NULL does nothing. The connection closes when this handle and
 * every channel opened on it are gone.
 *
 * # Safety
 *
 * `connection` is NULL or a live connection handle, not used by any call now or after this
 * one.
 */
void warren_connection_free(struct warren_connection *connection);

/**
 * Waits at most `timeout_ms` for the next delivery and writes its handle to `*delivery_out`
 * (free it with `warren_delivery_free`; settle it unless the consumer is `no_ack`). 0 only
 * takes a delivery already waiting; `UINT64_MAX` waits practically forever.
 *
 * # Errors
 *
 * `WARREN_STATUS_TIMEOUT` when none came in time; `WARREN_STATUS_CANCELLED` once the consumer
 * was cancelled (by `warren_consumer_cancel` or the engine: its queue deleted, its consumer
 * timeout) and every earlier delivery was received; `WARREN_STATUS_CHANNEL_CLOSED` once its
 * channel closed; `WARREN_STATUS_INVALID_STATE` when the consumer has a callback;
 * `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `consumer` is NULL or a live consumer handle; `delivery_out` is NULL or points to a
 * writable `warren_delivery *`.
 */
enum warren_status warren_consumer_recv(const struct warren_consumer *consumer,
                                        uint64_t timeout_ms,
                                        struct warren_delivery **delivery_out);

/**
 * Hands the consumer's deliveries to `callback` on a thread of its own, from now on:
 * `callback(userdata, delivery)` for each delivery, in order, never two at once for one
 * consumer, and once `callback(userdata, NULL)` when the consumer ends (cancelled, its
 * channel, connection or broker closed, its queue deleted). The callback owns each delivery
 * and must free it; it may settle it, publish, or call other functions of warren, including
 * `warren_consumer_free` on this consumer (the thread then ends after the callback returns).
 * `warren_consumer_recv` is refused from now on.
 *
 * `warren_consumer_free` stops the thread and waits for a callback in progress to return:
 * after it, no more calls come. It must not unwind or `longjmp` out of the callback.
 *
 * # Errors
 *
 * `WARREN_STATUS_INVALID_STATE` if a callback is already set; `WARREN_STATUS_INTERNAL_ERROR`
 * if the thread cannot be started; `WARREN_STATUS_NULL_ARGUMENT` for a NULL `consumer` or
 * `callback`.
 *
 * # Safety
 *
 * `consumer` is NULL or a live consumer handle. `userdata` may be used from the callback's
 * thread and stays valid until `warren_consumer_free` returns (or, freed from inside the
 * callback, until that callback returns).
 */
enum warren_status warren_consumer_set_callback(const struct warren_consumer *consumer,
                                                warren_delivery_callback callback,
                                                void *userdata);

/**
 * Copies the consumer tag into `buf` (not NUL-terminated) and writes its length to
 * `*len_out`. At most `WARREN_MAX_NAME_LEN` (255) bytes.
 *
 * # Errors
 *
 * `WARREN_STATUS_BUFFER_TOO_SMALL` when `cap` is below the tag's length: then, as the one
 * exception to the output rule, `*len_out` gets the length needed and `buf` is untouched.
 * `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `consumer` is NULL or a live consumer handle; `buf` is NULL or points to `cap` writable
 * bytes; `len_out` is NULL or writable.
 */
enum warren_status warren_consumer_tag(const struct warren_consumer *consumer,
                                       uint8_t *buf,
                                       size_t cap,
                                       size_t *len_out);

/**
 * Cancels the consumer (SEMANTICS A6): nothing new arrives; deliveries already handed over
 * can still be received and settled. `warren_consumer_recv` then returns
 * `WARREN_STATUS_CANCELLED`, and a callback gets its last call, with NULL. The handle still
 * needs `warren_consumer_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_CHANNEL_CLOSED` on a closed channel; `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `consumer` is NULL or a live consumer handle.
 */
enum warren_status warren_consumer_cancel(const struct warren_consumer *consumer);

/**
 * Frees the consumer; NULL does nothing. Without `warren_consumer_cancel` first this is a
 * consumer loss: its unacked deliveries go back to the queue, `redelivered`. A callback
 * thread is stopped and joined first (a callback in progress finishes): no callback runs
 * after this returns, except the one that called it, if one did.
 *
 * # Safety
 *
 * `consumer` is NULL or a live consumer handle, not used by any call now or after this one.
 */
void warren_consumer_free(struct warren_consumer *consumer);

/**
 * The body: `*ptr_out` points to `*len_out` bytes, valid until `warren_delivery_free`
 * (not a copy). With a length of 0 the pointer may be anything but NULL: do not read it.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_body(const struct warren_delivery *delivery,
                                        const uint8_t **ptr_out,
                                        size_t *len_out);

/**
 * The routing key it was published with (UTF-8, not NUL-terminated), valid until
 * `warren_delivery_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_routing_key(const struct warren_delivery *delivery,
                                               const uint8_t **ptr_out,
                                               size_t *len_out);

/**
 * The exchange it was published to (empty for the default exchange), valid until
 * `warren_delivery_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_exchange(const struct warren_delivery *delivery,
                                            const uint8_t **ptr_out,
                                            size_t *len_out);

/**
 * The `correlation_id` property, valid until `warren_delivery_free`; NULL and 0 when the
 * message has none.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_correlation_id(const struct warren_delivery *delivery,
                                                  const uint8_t **ptr_out,
                                                  size_t *len_out);

/**
 * The `reply_to` property, valid until `warren_delivery_free`; NULL and 0 when the
 * message has none.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_reply_to(const struct warren_delivery *delivery,
                                            const uint8_t **ptr_out,
                                            size_t *len_out);

/**
 * The `content_type` property, valid until `warren_delivery_free`; NULL and 0 when the
 * message has none.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_content_type(const struct warren_delivery *delivery,
                                                const uint8_t **ptr_out,
                                                size_t *len_out);

/**
 * The `message_id` property, valid until `warren_delivery_free`; NULL and 0 when the
 * message has none.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_message_id(const struct warren_delivery *delivery,
                                              const uint8_t **ptr_out,
                                              size_t *len_out);

/**
 * All its properties, as published (SEMANTICS P3), with `x-delivery-count` in the headers
 * when it failed before (A10): `*properties_out` gets a view, read with the
 * `warren_properties_*` getters (`warren_properties_headers` for the headers, `x-death`
 * included), valid until `warren_delivery_free`; never freed or changed by the caller.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `properties_out` is NULL or points to a
 * writable `const warren_properties *`.
 */
enum warren_status warren_delivery_properties(const struct warren_delivery *delivery,
                                              const struct warren_properties **properties_out);

/**
 * The tag of the consumer that received it (valid until `warren_delivery_free`); NULL and 0
 * for one from `warren_channel_basic_get`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
 * writable.
 */
enum warren_status warren_delivery_consumer_tag(const struct warren_delivery *delivery,
                                                const uint8_t **ptr_out,
                                                size_t *len_out);

/**
 * RabbitMQ 4.3's failed delivery count (SEMANTICS A10): rejects with requeue and consumer or
 * channel losses before this delivery; 0 for a NULL or poisoned delivery.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
uint32_t warren_delivery_failed_count(const struct warren_delivery *delivery);

/**
 * RabbitMQ 4.3's returned delivery count (SEMANTICS A10): nacks with requeue,
 * `warren_channel_basic_recover` and consumer timeouts before this delivery; 0 for a NULL or
 * poisoned delivery.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
uint32_t warren_delivery_returned_count(const struct warren_delivery *delivery);

/**
 * The `delivery_mode` property (2: persistent); 0 when unset, and for a NULL or poisoned
 * delivery.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
uint8_t warren_delivery_delivery_mode(const struct warren_delivery *delivery);

/**
 * Whether the message was delivered before (SEMANTICS A5, A7); false for a NULL or poisoned
 * delivery.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
bool warren_delivery_redelivered(const struct warren_delivery *delivery);

/**
 * The delivery tag, unique on its channel (SEMANTICS A1), for
 * `warren_channel_basic_ack` and friends; 0 (never a tag) for a NULL or poisoned delivery.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
uint64_t warren_delivery_tag(const struct warren_delivery *delivery);

/**
 * Acknowledges the delivery (SEMANTICS A2). A delivery whose consumer went away (the message
 * is back in its queue) is no error and changes nothing (A8).
 *
 * # Errors
 *
 * 406 for a delivery already settled, which closes the channel;
 * `WARREN_STATUS_CHANNEL_CLOSED` once its channel closed; `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
enum warren_status warren_delivery_ack(const struct warren_delivery *delivery);

/**
 * Rejects the delivery, and with `multiple` its channel's earlier unacked ones too
 * (SEMANTICS A4): `requeue` puts them back at their places, otherwise they are dropped.
 *
 * # Errors
 *
 * As `warren_delivery_ack`.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
enum warren_status warren_delivery_nack(const struct warren_delivery *delivery,
                                        bool multiple,
                                        bool requeue);

/**
 * Rejects the delivery (SEMANTICS A4): `requeue` puts it back at its place, otherwise it is
 * dropped.
 *
 * # Errors
 *
 * As `warren_delivery_ack`.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle.
 */
enum warren_status warren_delivery_reject(const struct warren_delivery *delivery, bool requeue);

/**
 * Frees the delivery and every pointer its accessors returned; NULL does nothing. It does
 * not settle it.
 *
 * # Safety
 *
 * `delivery` is NULL or a live delivery handle, not used by any call now or after this one.
 */
void warren_delivery_free(struct warren_delivery *delivery);

/**
 * Creates an options object holding the defaults (bodies up to 16 MiB, 2047 channels per
 * connection, a 30-minute consumer timeout, the system clock, 64 MiB log segments) and writes
 * it to `*options_out`; free it with `warren_broker_options_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `options_out` is NULL.
 *
 * # Safety
 *
 * `options_out` is NULL or points to a writable `warren_broker_options *`.
 */
enum warren_status warren_broker_options_new(struct warren_broker_options **options_out);

/**
 * Frees an options object; NULL does nothing. Brokers made with it keep their own copy.
 *
 * # Safety
 *
 * `options` is NULL or an object from `warren_broker_options_new`, not used by any call now
 * or after this one.
 */
void warren_broker_options_free(struct warren_broker_options *options);

/**
 * Sets the largest body accepted, in bytes (SEMANTICS N4; default 16 MiB): a publish with a
 * larger body is refused with 406.
 *
 * # Errors
 *
 * `WARREN_STATUS_INVALID_ARGUMENT` above `WARREN_MAX_MESSAGE_SIZE_LIMIT` (512 MiB);
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
 *
 * # Safety
 *
 * `options` is NULL or an object from `warren_broker_options_new`, used by no other thread
 * during the call.
 */
enum warren_status warren_broker_options_set_max_message_size(struct warren_broker_options *options,
                                                              size_t bytes);

/**
 * Sets how many channels one connection may have open (SEMANTICS N5; default 2047): one
 * more is 530, closing the connection.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
 *
 * # Safety
 *
 * As `warren_broker_options_set_max_message_size`.
 */
enum warren_status warren_broker_options_set_channel_max(struct warren_broker_options *options,
                                                         uint16_t channels);

/**
 * Sets the consumer timeout, in milliseconds, of manual-ack consumers whose consume and queue
 * arguments set none (SEMANTICS A9; default 1800000, 30 minutes); 0 turns it off.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
 *
 * # Safety
 *
 * As `warren_broker_options_set_max_message_size`.
 */
enum warren_status warren_broker_options_set_consumer_timeout(struct warren_broker_options *options,
                                                              uint64_t timeout_ms);

/**
 * Gives the broker a manual clock reading `start_ms` (milliseconds since the Unix epoch) that
 * moves only by `warren_broker_advance_clock`: consumer timeouts (and whatever else keeps
 * time) then fire inside those calls, to the millisecond, so tests need no sleeps. The
 * default is the system clock.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
 *
 * # Safety
 *
 * As `warren_broker_options_set_max_message_size`.
 */
enum warren_status warren_broker_options_set_manual_clock(struct warren_broker_options *options,
                                                          uint64_t start_ms);

/**
 * Sets the size at which a durable broker's log segment rolls over, in bytes (default 64 MiB;
 * below 4096 counts as 4096). Only `warren_broker_open_with_options` uses it.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
 *
 * # Safety
 *
 * As `warren_broker_options_set_max_message_size`.
 */
enum warren_status warren_broker_options_set_segment_size(struct warren_broker_options *options,
                                                          uint64_t bytes);

/**
 * Creates a properties object with nothing set and writes it to `*properties_out`; free it
 * with `warren_properties_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `properties_out` is NULL.
 *
 * # Safety
 *
 * `properties_out` is NULL or points to a writable `warren_properties *`.
 */
enum warren_status warren_properties_new(struct warren_properties **properties_out);

/**
 * Frees a properties object from `warren_properties_new`; NULL does nothing. Never pass a
 * view.
 *
 * # Safety
 *
 * `properties` is NULL or an object the caller owns, not used by any call now or after this
 * one.
 */
void warren_properties_free(struct warren_properties *properties);

/**
 * Unsets every property, to reuse the object for another message.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
 *
 * # Safety
 *
 * `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
 * another thread during the call.
 */
enum warren_status warren_properties_clear(struct warren_properties *properties);

/**
 * Sets the `headers` to a copy of `headers` (an owned table or a view, e.g. a delivery's
 * headers), or unsets them when `headers` is NULL. Headers exchanges match on them
 * (SEMANTICS E3); `CC` and `BCC` arrays add routing keys (P4).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
 *
 * # Safety
 *
 * `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
 * another thread during the call; `headers` is NULL, a live table or a valid view (even one
 * read from `properties` itself: it is copied first).
 */
enum warren_status warren_properties_set_headers(struct warren_properties *properties,
                                                 const struct warren_table *headers);

/**
 * Sets the MIME content type, e.g. `application/json`, replacing any value (`value_len` bytes,
 * copied; (NULL, 0) is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`, or a NULL `value` with a length;
 * `WARREN_STATUS_INVALID_UTF8`, `WARREN_STATUS_TOO_LONG` for a value that is not UTF-8 of at
 * most 255 bytes (SEMANTICS N1). Nothing changes on failure.
 *
 * # Safety
 *
 * `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
 * another thread during the call; `value` is NULL or points to `value_len` readable bytes.
 */
enum warren_status warren_properties_set_content_type(struct warren_properties *properties,
                                                      const uint8_t *value,
                                                      size_t value_len);

/**
 * Sets the MIME content encoding, e.g. `gzip`, replacing any value (`value_len` bytes, copied;
 * (NULL, 0) is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_content_encoding(struct warren_properties *properties,
                                                          const uint8_t *value,
                                                          size_t value_len);

/**
 * Sets the correlation id, matching an RPC reply to its request (SEMANTICS R1), replacing any
 * value (`value_len` bytes, copied; (NULL, 0) is the empty
 * string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_correlation_id(struct warren_properties *properties,
                                                        const uint8_t *value,
                                                        size_t value_len);

/**
 * Sets the queue to reply to (SEMANTICS R1, R2), replacing any value (`value_len` bytes, copied;
 * (NULL, 0) is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_reply_to(struct warren_properties *properties,
                                                  const uint8_t *value,
                                                  size_t value_len);

/**
 * Sets the per-message TTL: decimal milliseconds, 0 to 315360000000 (SEMANTICS L1; checked by the
 * publish, 406), replacing any value (`value_len` bytes, copied; (NULL, 0) is the empty
 * string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_expiration(struct warren_properties *properties,
                                                    const uint8_t *value,
                                                    size_t value_len);

/**
 * Sets the application message id, replacing any value (`value_len` bytes, copied; (NULL, 0) is
 * the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_message_id(struct warren_properties *properties,
                                                    const uint8_t *value,
                                                    size_t value_len);

/**
 * Sets the message type name (AMQP's `type`), replacing any value (`value_len` bytes, copied;
 * (NULL, 0) is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_type(struct warren_properties *properties,
                                              const uint8_t *value,
                                              size_t value_len);

/**
 * Sets the publishing user id (not checked in-process, SEMANTICS P3), replacing any value
 * (`value_len` bytes, copied; (NULL, 0) is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_user_id(struct warren_properties *properties,
                                                 const uint8_t *value,
                                                 size_t value_len);

/**
 * Sets the publishing application's id, replacing any value (`value_len` bytes, copied; (NULL, 0)
 * is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_app_id(struct warren_properties *properties,
                                                const uint8_t *value,
                                                size_t value_len);

/**
 * Sets the cluster id (deprecated in AMQP 0-9-1, carried unchanged), replacing any value
 * (`value_len` bytes, copied; (NULL, 0) is the empty string, which is set, not absent).
 *
 * # Errors
 *
 * As `warren_properties_set_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_set_content_type`.
 */
enum warren_status warren_properties_set_cluster_id(struct warren_properties *properties,
                                                    const uint8_t *value,
                                                    size_t value_len);

/**
 * Sets the delivery mode: 2 persistent (written to disk in a durable queue of a durable broker),
 * any other value transient.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
 *
 * # Safety
 *
 * `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
 * another thread during the call.
 */
enum warren_status warren_properties_set_delivery_mode(struct warren_properties *properties,
                                                       uint8_t value);

/**
 * Sets the priority, 0 to 255 (used by queues with `x-max-priority`, SEMANTICS L7).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
 *
 * # Safety
 *
 * `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
 * another thread during the call.
 */
enum warren_status warren_properties_set_priority(struct warren_properties *properties,
                                                  uint8_t value);

/**
 * Sets the timestamp, seconds since the Unix epoch (set by the publisher, never by warren).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
 *
 * # Safety
 *
 * `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
 * another thread during the call.
 */
enum warren_status warren_properties_set_timestamp(struct warren_properties *properties,
                                                   uint64_t value);

/**
 * Reads the `headers`: `*headers_out` gets a view of the table (valid while `properties` is;
 * read it with `warren_table_get` and friends, never free it), or NULL when there are none.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `properties` is NULL, a live object or a valid view, not changed during the call;
 * `headers_out` is NULL or points to a writable `const warren_table *`.
 */
enum warren_status warren_properties_headers(const struct warren_properties *properties,
                                             const struct warren_table **headers_out);

/**
 * Reads the MIME content type, e.g. `application/json`: `*ptr_out` and `*len_out` get the bytes
 * (UTF-8, not NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not
 * set.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `properties` is NULL, a live object or a valid view, not changed during the call; the
 * outputs are NULL or writable.
 */
enum warren_status warren_properties_content_type(const struct warren_properties *properties,
                                                  const uint8_t **ptr_out,
                                                  size_t *len_out);

/**
 * Reads the MIME content encoding, e.g. `gzip`: `*ptr_out` and `*len_out` get the bytes (UTF-8,
 * not NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_content_encoding(const struct warren_properties *properties,
                                                      const uint8_t **ptr_out,
                                                      size_t *len_out);

/**
 * Reads the correlation id, matching an RPC reply to its request (SEMANTICS R1): `*ptr_out` and
 * `*len_out` get the bytes (UTF-8, not NUL-terminated, a view valid while `properties` is), or
 * NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_correlation_id(const struct warren_properties *properties,
                                                    const uint8_t **ptr_out,
                                                    size_t *len_out);

/**
 * Reads the queue to reply to (SEMANTICS R1, R2): `*ptr_out` and `*len_out` get the bytes (UTF-8,
 * not NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_reply_to(const struct warren_properties *properties,
                                              const uint8_t **ptr_out,
                                              size_t *len_out);

/**
 * Reads the per-message TTL: decimal milliseconds, 0 to 315360000000 (SEMANTICS L1; checked by the
 * publish, 406): `*ptr_out` and `*len_out` get the bytes (UTF-8, not NUL-terminated,
 * a view valid while `properties` is), or NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_expiration(const struct warren_properties *properties,
                                                const uint8_t **ptr_out,
                                                size_t *len_out);

/**
 * Reads the application message id: `*ptr_out` and `*len_out` get the bytes (UTF-8, not
 * NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_message_id(const struct warren_properties *properties,
                                                const uint8_t **ptr_out,
                                                size_t *len_out);

/**
 * Reads the message type name (AMQP's `type`): `*ptr_out` and `*len_out` get the bytes (UTF-8, not
 * NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_type(const struct warren_properties *properties,
                                          const uint8_t **ptr_out,
                                          size_t *len_out);

/**
 * Reads the publishing user id (not checked in-process, SEMANTICS P3): `*ptr_out` and `*len_out`
 * get the bytes (UTF-8, not NUL-terminated, a view valid while `properties` is), or NULL and 0
 * when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_user_id(const struct warren_properties *properties,
                                             const uint8_t **ptr_out,
                                             size_t *len_out);

/**
 * Reads the publishing application's id: `*ptr_out` and `*len_out` get the bytes (UTF-8, not
 * NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_app_id(const struct warren_properties *properties,
                                            const uint8_t **ptr_out,
                                            size_t *len_out);

/**
 * Reads the cluster id (deprecated in AMQP 0-9-1, carried unchanged): `*ptr_out` and `*len_out`
 * get the bytes (UTF-8, not NUL-terminated, a view valid while `properties` is), or NULL and 0
 * when it is not set.
 *
 * # Errors
 *
 * As `warren_properties_content_type`.
 *
 * # Safety
 *
 * As `warren_properties_content_type`.
 */
enum warren_status warren_properties_cluster_id(const struct warren_properties *properties,
                                                const uint8_t **ptr_out,
                                                size_t *len_out);

/**
 * Reads the delivery mode: 2 persistent (written to disk in a durable queue of a durable broker),
 * any other value transient: `*set_out` says whether it is set, and `*value_out` gets it (0 when
 * not set).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `properties` is NULL, a live object or a valid view, not changed during the call; the
 * outputs are NULL or writable.
 */
enum warren_status warren_properties_delivery_mode(const struct warren_properties *properties,
                                                   bool *set_out,
                                                   uint8_t *value_out);

/**
 * Reads the priority, 0 to 255 (used by queues with `x-max-priority`, SEMANTICS L7): `*set_out`
 * says whether it is set, and `*value_out` gets it (0 when not
 * set).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `properties` is NULL, a live object or a valid view, not changed during the call; the
 * outputs are NULL or writable.
 */
enum warren_status warren_properties_priority(const struct warren_properties *properties,
                                              bool *set_out,
                                              uint8_t *value_out);

/**
 * Reads the timestamp, seconds since the Unix epoch (set by the publisher, never by warren):
 * `*set_out` says whether it is set, and `*value_out` gets it (0 when not
 * set).
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `properties` is NULL, a live object or a valid view, not changed during the call; the
 * outputs are NULL or writable.
 */
enum warren_status warren_properties_timestamp(const struct warren_properties *properties,
                                               bool *set_out,
                                               uint64_t *value_out);

/**
 * The AMQP reply code of a status: its own number for the AMQP statuses (312, 403, 404, 405,
 * 406, 503, 530, 540, 541), 0 for `WARREN_STATUS_OK`, the local statuses and numbers that are
 * no status.
 *
 * `status` is an `int`, not the enum, so that any number C passes is defined behaviour.
 *
 * # Safety
 *
 * None: any value is accepted. (`unsafe` only by the crate's convention for C entry points.)
 */
uint16_t warren_status_reply_code(int status);

/**
 * The name of a status (`"WARREN_STATUS_NOT_FOUND"`), a static NUL-terminated string never
 * to be freed; `"WARREN_STATUS_UNKNOWN"` for a number that is no status.
 *
 * # Safety
 *
 * None: any value is accepted.
 */
const char *warren_status_name(int status);

/**
 * Creates an empty table and writes it to `*table_out`; free it with `warren_table_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `table_out` is NULL.
 *
 * # Safety
 *
 * `table_out` is NULL or points to a writable `warren_table *`.
 */
enum warren_status warren_table_new(struct warren_table **table_out);

/**
 * Copies `table` (an owned table or a view, e.g. a delivery's headers) into a new table the
 * caller owns, written to `*table_out`; free it with `warren_table_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
 *
 * # Safety
 *
 * `table` is NULL, a live table or a valid view, not changed during the call; `table_out`
 * is NULL or points to a writable `warren_table *`.
 */
enum warren_status warren_table_copy(const struct warren_table *table,
                                     struct warren_table **table_out);

/**
 * Frees a table from `warren_table_new` or `warren_table_copy`, with everything in it; NULL
 * does nothing. Views read from it are invalid afterwards. Never pass a view.
 *
 * # Safety
 *
 * `table` is NULL or a table the caller owns, not used by any call now or after this one.
 */
void warren_table_free(struct warren_table *table);

/**
 * Sets the field `name` of `table` to the boolean `value` (AMQP `t`), replacing any value it had.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `table`, or a NULL `name` with a length;
 * `WARREN_STATUS_INVALID_UTF8` and `WARREN_STATUS_TOO_LONG` for a name that is not UTF-8 of
 * at most 255 bytes. Nothing changes on failure.
 *
 * # Safety
 *
 * `table` is NULL or a table from `warren_table_new` or `warren_table_copy` (not a view),
 * not used by another thread during the call; `name` is NULL or points to `name_len`
 * readable bytes.
 */
enum warren_status warren_table_set_bool(struct warren_table *table,
                                         const uint8_t *name,
                                         size_t name_len,
                                         bool value);

/**
 * Sets the field `name` of `table` to the signed 8-bit integer `value` (AMQP `b`), replacing any
 * value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_i8(struct warren_table *table,
                                       const uint8_t *name,
                                       size_t name_len,
                                       int8_t value);

/**
 * Sets the field `name` of `table` to the unsigned 8-bit integer `value` (AMQP `B`), replacing any
 * value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_u8(struct warren_table *table,
                                       const uint8_t *name,
                                       size_t name_len,
                                       uint8_t value);

/**
 * Sets the field `name` of `table` to the signed 16-bit integer `value` (AMQP `s`), replacing any
 * value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_i16(struct warren_table *table,
                                        const uint8_t *name,
                                        size_t name_len,
                                        int16_t value);

/**
 * Sets the field `name` of `table` to the unsigned 16-bit integer `value` (AMQP `u`), replacing
 * any value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_u16(struct warren_table *table,
                                        const uint8_t *name,
                                        size_t name_len,
                                        uint16_t value);

/**
 * Sets the field `name` of `table` to the signed 32-bit integer `value` (AMQP `I`), replacing any
 * value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_i32(struct warren_table *table,
                                        const uint8_t *name,
                                        size_t name_len,
                                        int32_t value);

/**
 * Sets the field `name` of `table` to the unsigned 32-bit integer `value` (AMQP `i`), replacing
 * any value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_u32(struct warren_table *table,
                                        const uint8_t *name,
                                        size_t name_len,
                                        uint32_t value);

/**
 * Sets the field `name` of `table` to the signed 64-bit integer `value` (AMQP `l`), replacing any
 * value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_i64(struct warren_table *table,
                                        const uint8_t *name,
                                        size_t name_len,
                                        int64_t value);

/**
 * Sets the field `name` of `table` to the unsigned 64-bit integer `value` (AMQP `L`), replacing
 * any value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_u64(struct warren_table *table,
                                        const uint8_t *name,
                                        size_t name_len,
                                        uint64_t value);

/**
 * Sets the field `name` of `table` to the 32-bit float `value` (AMQP `f`), replacing any value it
 * had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_float(struct warren_table *table,
                                          const uint8_t *name,
                                          size_t name_len,
                                          float value);

/**
 * Sets the field `name` of `table` to the 64-bit float `value` (AMQP `d`), replacing any value it
 * had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_double(struct warren_table *table,
                                           const uint8_t *name,
                                           size_t name_len,
                                           double value);

/**
 * Sets the field `name` of `table` to the timestamp `value`, seconds since the Unix epoch (AMQP
 * `T`), replacing any value it had.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_timestamp(struct warren_table *table,
                                              const uint8_t *name,
                                              size_t name_len,
                                              uint64_t value);

/**
 * Sets the field `name` of `table` to the decimal `value` × 10^-`scale` (AMQP `D`).
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_decimal(struct warren_table *table,
                                            const uint8_t *name,
                                            size_t name_len,
                                            uint8_t scale,
                                            uint32_t value);

/**
 * Sets the field `name` of `table` to the long string `value` (AMQP `S`): `value_len` bytes,
 * copied, conventionally UTF-8 but not checked ((NULL, 0) is the empty string).
 *
 * # Errors
 *
 * As `warren_table_set_bool`; also `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value` with a
 * length, `WARREN_STATUS_TOO_LONG` for a value over 512 MiB (checked before a byte is read).
 *
 * # Safety
 *
 * As `warren_table_set_bool`; `value` is NULL or points to `value_len` readable bytes.
 */
enum warren_status warren_table_set_string(struct warren_table *table,
                                           const uint8_t *name,
                                           size_t name_len,
                                           const uint8_t *value,
                                           size_t value_len);

/**
 * Sets the field `name` of `table` to the byte array `value` (AMQP `x`), copied.
 *
 * # Errors
 *
 * As `warren_table_set_string`.
 *
 * # Safety
 *
 * As `warren_table_set_string`.
 */
enum warren_status warren_table_set_bytes(struct warren_table *table,
                                          const uint8_t *name,
                                          size_t name_len,
                                          const uint8_t *value,
                                          size_t value_len);

/**
 * Sets the field `name` of `table` to void (AMQP `V`, no value): as a headers binding
 * argument, it asks only that the header be present (SEMANTICS E3).
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`.
 */
enum warren_status warren_table_set_void(struct warren_table *table,
                                         const uint8_t *name,
                                         size_t name_len);

/**
 * Sets the field `name` of `table` to a copy of the table `value` (AMQP `F`): an owned table
 * or a view, even `table` itself or a view into it (copied before `table` changes).
 *
 * # Errors
 *
 * As `warren_table_set_bool`; `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value`;
 * `WARREN_STATUS_INVALID_ARGUMENT` when `table` would nest more than `WARREN_MAX_NESTING`
 * levels.
 *
 * # Safety
 *
 * As `warren_table_set_bool`; `value` is NULL, a live table or a valid view.
 */
enum warren_status warren_table_set_table(struct warren_table *table,
                                          const uint8_t *name,
                                          size_t name_len,
                                          const struct warren_table *value);

/**
 * Sets the field `name` of `table` to a copy of the array `value` (AMQP `A`): an owned array
 * or a view.
 *
 * # Errors
 *
 * As `warren_table_set_table`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`; `value` is NULL, a live array or a valid view.
 */
enum warren_status warren_table_set_array(struct warren_table *table,
                                          const uint8_t *name,
                                          size_t name_len,
                                          const struct warren_array *value);

/**
 * Removes the field `name` from `table`; `*removed_out` (optional) says whether it was
 * there.
 *
 * # Errors
 *
 * As `warren_table_set_bool`.
 *
 * # Safety
 *
 * As `warren_table_set_bool`; `removed_out` is NULL or writable.
 */
enum warren_status warren_table_remove(struct warren_table *table,
                                       const uint8_t *name_ptr,
                                       size_t name_len,
                                       bool *removed_out);

/**
 * Creates an empty array and writes it to `*array_out`; free it with `warren_array_free`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `array_out` is NULL.
 *
 * # Safety
 *
 * `array_out` is NULL or points to a writable `warren_array *`.
 */
enum warren_status warren_array_new(struct warren_array **array_out);

/**
 * Frees an array from `warren_array_new`, with everything in it; NULL does nothing. Never
 * pass a view.
 *
 * # Safety
 *
 * `array` is NULL or an array the caller owns, not used by any call now or after this one.
 */
void warren_array_free(struct warren_array *array);

/**
 * Appends the boolean `value` (AMQP `t`) to `array`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `array`.
 *
 * # Safety
 *
 * `array` is NULL or an array from `warren_array_new` (not a view), not used by another
 * thread during the call.
 */
enum warren_status warren_array_push_bool(struct warren_array *array, bool value);

/**
 * Appends the signed 8-bit integer `value` (AMQP `b`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_i8(struct warren_array *array, int8_t value);

/**
 * Appends the unsigned 8-bit integer `value` (AMQP `B`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_u8(struct warren_array *array, uint8_t value);

/**
 * Appends the signed 16-bit integer `value` (AMQP `s`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_i16(struct warren_array *array, int16_t value);

/**
 * Appends the unsigned 16-bit integer `value` (AMQP `u`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_u16(struct warren_array *array, uint16_t value);

/**
 * Appends the signed 32-bit integer `value` (AMQP `I`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_i32(struct warren_array *array, int32_t value);

/**
 * Appends the unsigned 32-bit integer `value` (AMQP `i`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_u32(struct warren_array *array, uint32_t value);

/**
 * Appends the signed 64-bit integer `value` (AMQP `l`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_i64(struct warren_array *array, int64_t value);

/**
 * Appends the unsigned 64-bit integer `value` (AMQP `L`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_u64(struct warren_array *array, uint64_t value);

/**
 * Appends the 32-bit float `value` (AMQP `f`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_float(struct warren_array *array, float value);

/**
 * Appends the 64-bit float `value` (AMQP `d`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_double(struct warren_array *array, double value);

/**
 * Appends the timestamp `value`, seconds since the Unix epoch (AMQP `T`) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_timestamp(struct warren_array *array, uint64_t value);

/**
 * Appends the decimal `value` × 10^-`scale` to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_decimal(struct warren_array *array,
                                             uint8_t scale,
                                             uint32_t value);

/**
 * Appends the long string `value` (`value_len` bytes, copied) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`; also `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value` with a
 * length, `WARREN_STATUS_TOO_LONG` for a value over 512 MiB.
 *
 * # Safety
 *
 * As `warren_array_push_bool`; `value` is NULL or points to `value_len` readable bytes.
 */
enum warren_status warren_array_push_string(struct warren_array *array,
                                            const uint8_t *value,
                                            size_t value_len);

/**
 * Appends the byte array `value` (copied) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_string`.
 *
 * # Safety
 *
 * As `warren_array_push_string`.
 */
enum warren_status warren_array_push_bytes(struct warren_array *array,
                                           const uint8_t *value,
                                           size_t value_len);

/**
 * Appends void (no value) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`.
 */
enum warren_status warren_array_push_void(struct warren_array *array);

/**
 * Appends a copy of the table `value` (owned or a view) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_bool`; `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value`;
 * `WARREN_STATUS_INVALID_ARGUMENT` when `array` would nest more than `WARREN_MAX_NESTING`
 * levels.
 *
 * # Safety
 *
 * As `warren_array_push_bool`; `value` is NULL, a live table or a valid view.
 */
enum warren_status warren_array_push_table(struct warren_array *array,
                                           const struct warren_table *value);

/**
 * Appends a copy of the array `value` (owned or a view, even `array` itself) to `array`.
 *
 * # Errors
 *
 * As `warren_array_push_table`.
 *
 * # Safety
 *
 * As `warren_array_push_bool`; `value` is NULL, a live array or a valid view.
 */
enum warren_status warren_array_push_array(struct warren_array *array,
                                           const struct warren_array *value);

/**
 * The number of fields of `table` (an owned table or a view); 0 for NULL.
 *
 * # Safety
 *
 * `table` is NULL, a live table or a valid view, not changed during the call.
 */
size_t warren_table_len(const struct warren_table *table);

/**
 * The field of `table` at `index` in bytewise name order (0 to `warren_table_len` - 1): its
 * name to `*name_out` and `*name_len_out` (UTF-8, not NUL-terminated) and its value to
 * `*value_out`, all views valid while `table` is (see the module conventions). Walks the
 * table to the index: O(index).
 *
 * # Errors
 *
 * `WARREN_STATUS_INVALID_ARGUMENT` for an index past the end; `WARREN_STATUS_NULL_ARGUMENT`
 * if an argument is NULL.
 *
 * # Safety
 *
 * `table` is NULL, a live table or a valid view, not changed during the call; each output is
 * NULL or writable.
 */
enum warren_status warren_table_entry(const struct warren_table *table,
                                      size_t index,
                                      const uint8_t **name_out,
                                      size_t *name_len_out,
                                      struct warren_value *value_out);

/**
 * Looks up the field `name` of `table`: `*found_out` says whether it is there and, if so,
 * `*value_out` gets its value (views valid while `table` is); otherwise `*value_out` is
 * untouched.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `table`, `found_out` or `value_out` is NULL, or `name` is
 * NULL with a length; `WARREN_STATUS_INVALID_UTF8`, `WARREN_STATUS_TOO_LONG` for a name no
 * table can hold.
 *
 * # Safety
 *
 * `table` is NULL, a live table or a valid view, not changed during the call; `name` is NULL
 * or points to `name_len` readable bytes; the outputs are NULL or writable.
 */
enum warren_status warren_table_get(const struct warren_table *table,
                                    const uint8_t *name_ptr,
                                    size_t name_len,
                                    bool *found_out,
                                    struct warren_value *value_out);

/**
 * The number of values of `array` (an owned array or a view); 0 for NULL.
 *
 * # Safety
 *
 * `array` is NULL, a live array or a valid view, not changed during the call.
 */
size_t warren_array_len(const struct warren_array *array);

/**
 * The value of `array` at `index` to `*value_out` (views valid while `array` is).
 *
 * # Errors
 *
 * `WARREN_STATUS_INVALID_ARGUMENT` for an index past the end; `WARREN_STATUS_NULL_ARGUMENT`
 * if an argument is NULL.
 *
 * # Safety
 *
 * `array` is NULL, a live array or a valid view, not changed during the call; `value_out` is
 * NULL or writable.
 */
enum warren_status warren_array_get(const struct warren_array *array,
                                    size_t index,
                                    struct warren_value *value_out);

/**
 * Creates an empty matcher and writes it to `*topic_out`.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` if `topic_out` is NULL.
 *
 * # Safety
 *
 * `topic_out` is NULL or points to a writable `warren_topic *`.
 */
enum warren_status warren_topic_new(struct warren_topic **topic_out);

/**
 * Binds `pattern` to the destination `dest`; `*added_out` (optional) says whether the
 * binding is new.
 *
 * # Errors
 *
 * The input statuses of the module conventions for `pattern` (UTF-8, at most 255 bytes);
 * `WARREN_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 *
 * `topic` is NULL or a live matcher; `pattern` is NULL or points to `pattern_len` readable
 * bytes; `added_out` is NULL or writable.
 */
enum warren_status warren_topic_bind(const struct warren_topic *topic,
                                     const uint8_t *pattern,
                                     size_t pattern_len,
                                     uint64_t dest,
                                     bool *added_out);

/**
 * Removes the binding of `pattern` to `dest`; `*removed_out` (optional) says whether it
 * existed.
 *
 * # Errors
 *
 * As `warren_topic_bind`.
 *
 * # Safety
 *
 * As `warren_topic_bind`, with `removed_out`.
 */
enum warren_status warren_topic_unbind(const struct warren_topic *topic,
                                       const uint8_t *pattern,
                                       size_t pattern_len,
                                       uint64_t dest,
                                       bool *removed_out);

/**
 * Routes `key`: writes every destination whose pattern matches it, each once, in no
 * particular order, to `dests_out` (room for `capacity` of them), and their number to
 * `*count_out`.
 *
 * # Errors
 *
 * `WARREN_STATUS_BUFFER_TOO_SMALL` when more than `capacity` match: then, as the one
 * exception to the output rule, `*count_out` gets the number needed and `dests_out` is
 * untouched (route again with that much room; bindings may change meanwhile). The input
 * statuses for `key`; `WARREN_STATUS_NULL_ARGUMENT` (also for a NULL `dests_out` with a
 * `capacity`).
 *
 * # Safety
 *
 * `topic` is NULL or a live matcher; `key` is NULL or points to `key_len` readable bytes;
 * `dests_out` is NULL or points to `capacity` writable `uint64_t`; `count_out` is NULL or
 * writable.
 */
enum warren_status warren_topic_route(const struct warren_topic *topic,
                                      const uint8_t *key,
                                      size_t key_len,
                                      uint64_t *dests_out,
                                      size_t capacity,
                                      size_t *count_out);

/**
 * Frees the matcher; NULL does nothing.
 *
 * # Safety
 *
 * `topic` is NULL or a live matcher, not used by any call now or after this one.
 */
void warren_topic_free(struct warren_topic *topic);

/**
 * The library's version, `"MAJOR.MINOR.PATCH"` (plus a pre-release suffix if any): a static
 * NUL-terminated string, never to be freed. Compare with the `WARREN_VERSION_*` macros to
 * check that the header matches the library linked.
 *
 * # Safety
 *
 * None: it takes no argument. (`unsafe` only by the crate's convention for C entry points.)
 */
const char *warren_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* WARREN_H */
