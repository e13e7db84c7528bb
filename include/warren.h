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
 * An in-process broker: exchanges, queues, consumers.
 *
 * Created by `warren_broker_new` (in memory) or `warren_broker_open` (durable, on a data
 * directory); freed by `warren_broker_free`. Thread-safe: any number of threads may use one
 * broker at once. Its connections keep what they need alive, so it may be freed before
 * them.
 */
typedef struct warren_broker warren_broker;

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
 * A topic matcher, from `warren_topic_new`; freed by `warren_topic_free`.
 *
 * Thread-safe: any number of threads may route, bind and unbind at once; routing takes no
 * lock. A route that starts after a bind or unbind returned sees its effect.
 */
typedef struct warren_topic warren_topic;

/**
 * An exchange type: one of the `WARREN_EXCHANGE_TYPE_*` values (SEMANTICS E1).
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
 * Message properties for `warren_channel_basic_publish`, every one optional. A zeroed struct
 * (`warren_properties p = {0};`) sets none.
 *
 * Each text property is a (pointer, length) pair: (NULL, 0) leaves it unset, a non-NULL
 * pointer sets it (to the empty string with length 0); UTF-8, at most 255 bytes. The
 * pointers are borrowed for the call only.
 */
typedef struct warren_properties {
  /**
   * 2 for persistent (written to disk in a durable queue of a durable broker), 0 for unset;
   * any other value is transient.
   */
  uint8_t delivery_mode;
  /**
   * MIME content type, e.g. `application/json`.
   */
  const uint8_t *content_type;
  /**
   * The length of `content_type`.
   */
  size_t content_type_len;
  /**
   * Correlation id: matches an RPC reply to its request.
   */
  const uint8_t *correlation_id;
  /**
   * The length of `correlation_id`.
   */
  size_t correlation_id_len;
  /**
   * The queue to reply to.
   */
  const uint8_t *reply_to;
  /**
   * The length of `reply_to`.
   */
  size_t reply_to_len;
  /**
   * Application message id.
   */
  const uint8_t *message_id;
  /**
   * The length of `message_id`.
   */
  size_t message_id_len;
} warren_properties;

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
 * Opens a durable broker on the data directory `dir` (created if missing; its bytes are the
 * path, not NUL-terminated) and writes it to `*broker_out`. What the directory holds is
 * recovered first: durable exchanges, queues and bindings, and persistent messages in durable
 * queues (SEMANTICS S2-S5). Close it with `warren_broker_close` (or free it) so the next
 * open sees a clean shutdown.
 *
 * # Errors
 *
 * `WARREN_STATUS_STORE` when the directory cannot be created, read or written, or another
 * broker holds it; `WARREN_STATUS_INVALID_ARGUMENT` for an empty `dir` (nothing is touched);
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `broker_out` or a NULL `dir` with a length; `WARREN_STATUS_INVALID_UTF8` for a path that is not UTF-8 on a system whose paths
 * are not bytes (not on Unix).
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
 * `_DURABLE`, `_AUTO_DELETE`, `_INTERNAL`) (SEMANTICS E1, E4, E10).
 *
 * # Errors
 *
 * 403 (`WARREN_STATUS_ACCESS_REFUSED`) for `""` or a new `amq.` name; 406 for a redeclare
 * with another type or flags; 404 for a passive declare of a missing exchange (each closes
 * the channel); `WARREN_STATUS_INVALID_ARGUMENT` for an unknown type or flag bit; the input
 * statuses of the module conventions.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `exchange` is NULL or points to `exchange_len`
 * readable bytes.
 */
enum warren_status warren_channel_exchange_declare(const struct warren_channel *channel,
                                                   const uint8_t *exchange,
                                                   size_t exchange_len,
                                                   warren_exchange_type kind,
                                                   warren_exchange_flags flags);

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
 * `_AUTO_DELETE`) (SEMANTICS Q1-Q8). An empty name asks for a server-named queue
 * (`amq.gen-...`): the name comes back through `name_buf`.
 *
 * Outputs, each optional (NULL when not wanted): the queue's name copied to `name_buf` (not
 * NUL-terminated) with its length in `*name_len_out`, its ready messages in
 * `*message_count_out` and its consumers in `*consumer_count_out`. A `name_buf` must hold
 * the name: `queue_len` bytes, or `WARREN_MAX_NAME_LEN` (255) for a server-named queue;
 * that is checked before anything happens.
 *
 * # Errors
 *
 * 406 for a redeclare with other flags; 405 for another connection's exclusive queue; 404
 * for a passive declare of a missing one; 403 for a new `amq.` name (each closes the
 * channel); `WARREN_STATUS_BUFFER_TOO_SMALL` (nothing declared) when `name_cap` is below the
 * size above; `WARREN_STATUS_INVALID_ARGUMENT` for an unknown flag bit; the input statuses of
 * the module conventions.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
 * readable bytes; `name_buf` is NULL or points to `name_cap` writable bytes; each count or
 * length output is NULL or points to a writable value of its type.
 */
enum warren_status warren_channel_queue_declare(const struct warren_channel *channel,
                                                const uint8_t *queue,
                                                size_t queue_len,
                                                warren_queue_flags flags,
                                                uint8_t *name_buf,
                                                size_t name_cap,
                                                size_t *name_len_out,
                                                uint32_t *message_count_out,
                                                uint32_t *consumer_count_out);

/**
 * Binds queue `queue` to exchange `exchange` with binding key `routing_key` (SEMANTICS E5,
 * Q6): an empty queue name means the channel's last declared queue.
 *
 * # Errors
 *
 * 404 for a missing queue or exchange, 403 for the default exchange, 405 for another
 * connection's exclusive queue (each closes the channel); the input statuses of the module
 * conventions.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
 * to that many readable bytes.
 */
enum warren_status warren_channel_queue_bind(const struct warren_channel *channel,
                                             const uint8_t *queue,
                                             size_t queue_len,
                                             const uint8_t *exchange,
                                             size_t exchange_len,
                                             const uint8_t *routing_key,
                                             size_t routing_key_len);

/**
 * Removes a queue binding; a missing binding is no error (SEMANTICS Q10).
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
                                               size_t routing_key_len);

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
 * buffer that every queue it reaches shares. `properties` may be NULL (none set).
 *
 * On success `*queues_out` (optional) gets the number of queues that took the message: 0
 * means it was unroutable and, not being `mandatory`, dropped.
 *
 * # Errors
 *
 * `WARREN_STATUS_NO_ROUTE` (312) when `mandatory` and no queue took it: the message is
 * returned, nothing closes (in confirm mode it is still confirmed). 404 for a missing
 * exchange, 403 for an internal one, 406 for a body over the broker's size limit or a bad
 * `reply_to` (each closes the channel); `WARREN_STATUS_TOO_LONG` for a body over 512 MiB;
 * the input statuses. A failed publish routed nothing.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; each (pointer, length) pair, here and in
 * `*properties`, is NULL or points to that many readable bytes; `properties` is NULL or
 * points to an initialised `warren_properties`; `queues_out` is NULL or writable.
 */
enum warren_status warren_channel_basic_publish(const struct warren_channel *channel,
                                                const uint8_t *exchange,
                                                size_t exchange_len,
                                                const uint8_t *routing_key,
                                                size_t routing_key_len,
                                                const uint8_t *body_ptr,
                                                size_t body_len,
                                                const struct warren_properties *properties_ptr,
                                                bool mandatory,
                                                size_t *queues_out);

/**
 * Starts a consumer on `queue` (empty: the channel's last declared queue) and writes its
 * handle to `*consumer_out` (SEMANTICS D1-D8). An empty `consumer_tag` asks for a generated
 * one (`warren_consumer_tag` gives it). With `no_ack`, deliveries are settled on hand-over;
 * otherwise each must be acked, nacked or rejected, and the channel's prefetch
 * (`warren_channel_basic_qos`) caps how many one consumer holds. `exclusive` makes it the
 * queue's only consumer.
 *
 * Receive with `warren_consumer_recv` or `warren_consumer_set_callback`; free with
 * `warren_consumer_free` (which, without `warren_consumer_cancel`, puts its unacked
 * deliveries back in the queue).
 *
 * # Errors
 *
 * 404 for a missing queue, 405 for another connection's exclusive queue, 403 when an
 * exclusive consumer holds the queue (each closes the channel); 530 for a tag in use on the
 * channel (closes the connection); the input statuses.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
 * to that many readable bytes; `consumer_out` is NULL or points to a writable
 * `warren_consumer *`.
 */
enum warren_status warren_channel_basic_consume(const struct warren_channel *channel,
                                                const uint8_t *queue,
                                                size_t queue_len,
                                                const uint8_t *consumer_tag,
                                                size_t consumer_tag_len,
                                                bool no_ack,
                                                bool exclusive,
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
 * Calls for one channel never overlap. It may publish on this channel. It must return
 * normally and quickly (it delays the publish or the store). The callback and
 * `warren_channel_wait_for_confirms` are told independently: a wait may return before the
 * callback has seen the last outcomes.
 *
 * # Errors
 *
 * `WARREN_STATUS_NULL_ARGUMENT` for a NULL `channel` or `callback`.
 *
 * # Safety
 *
 * `channel` is NULL or a live channel handle. `userdata` may be used from the threads above
 * and stays valid until the channel is closed and freed and every confirm of its publishes
 * came (after `warren_channel_wait_for_confirms` returned `WARREN_STATUS_OK`, or the close).
 */
enum warren_status warren_channel_set_confirm_callback(const struct warren_channel *channel,
                                                       warren_confirm_callback callback,
                                                       void *userdata);

/**
 * Closes the channel (SEMANTICS A7): its consumers end and its unacked deliveries go back to
 * their queues, `redelivered`. Closing twice does nothing; the handle still needs
 * `warren_channel_free`.
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
 * consumers are gone (deliveries do not keep it open).
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
