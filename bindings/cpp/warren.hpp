// warren.hpp: a header-only C++17 RAII wrapper over warren.h, the C API of warren.
//
// It adds move-only ownership and C++ types, never logic (STYLE 10): every method is one C
// call (the one named in its comment), and the C documentation in warren.h is the reference
// for what each does, its errors and its threading.
//
// Ownership. Broker, Connection, Channel, Consumer, Delivery and TopicMatcher each own one C
// handle and free it in their destructor (`warren_<object>_free`). They are move-only; a
// moved-from object holds no handle: it is safe to destroy or assign to, `!obj` is true, and
// any other call on it throws Error with WARREN_STATUS_NULL_ARGUMENT (the C call gets NULL).
// As in C, objects may be destroyed in any order (a channel keeps its connection alive, a
// consumer its channel). `get()` lends the C handle; `release()` gives it up to the caller.
//
// Errors: exceptions. A C call that returns a status other than WARREN_STATUS_OK throws
// `warren::Error` (a std::runtime_error) carrying the status, its AMQP reply code (404, 406,
// ...; 0 for local statuses) and the text of `warren_last_error` as what(). Why exceptions:
// RAII plus exceptions is the idiomatic C++17 error model (constructors such as Broker() can
// fail, and a failed step unwinds every handle already made), while std::expected only
// arrives in C++23. Two "expected" outcomes are values, not exceptions: a receive that timed
// out (`Consumer::recv` returns std::nullopt) and an empty queue (`Channel::basic_get` returns
// std::nullopt). Everything else the C API reports as a status throws, including 312
// NO_ROUTE from a mandatory publish (nothing is closed then) and a confirm wait's timeout.
//
// Threading is the C API's: Broker, Connection and TopicMatcher may be shared by threads
// (their methods are const); a Channel, Consumer or Delivery is used by one thread at a time.
//
// Callbacks take a std::function, owned by the object it was registered on, so it outlives
// the C registration:
// - `Consumer::on_delivery(f)`: f runs on the consumer's own thread (started by warren), one
//   call at a time, with each delivery (f owns it) and a last call with std::nullopt when the
//   consumer ends. ~Consumer stops that thread and waits for a call in progress before the
//   std::function is destroyed. Do not destroy or move-assign the Consumer from inside f
//   (cancel() it instead): that would destroy f while it runs.
// - `Channel::on_confirm(f)`: f(seq, multiple, ack) runs on the publishing thread (inside
//   basic_publish) for outcomes known at once, and on the durable store's thread for those
//   that waited for an fsync; calls never overlap. A replaced std::function is kept until the
//   Channel is destroyed. The C API requires the channel closed before that state goes, so
//   ~Channel of a channel with a confirm callback closes it before freeing it (its consumers
//   end too); a channel without one is only freed, as warren_channel_free does.
// Callbacks must not throw: the trampolines are noexcept, so an exception leaving f calls
// std::terminate (an exception must never unwind through warren).
//
// Build: c++ -std=c++17 -Ipath/to/include -Ipath/to/bindings/cpp app.cpp libwarren.a
//        -lpthread -ldl -lm

#ifndef WARREN_HPP
#define WARREN_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "warren.h"

namespace warren {

/// A failed C call: its status, the status's AMQP reply code, and warren_last_error's text.
class Error : public std::runtime_error {
 public:
  Error(warren_status status, const std::string& text)
      : std::runtime_error(text), status_(status) {}

  /// The C status, e.g. WARREN_STATUS_NOT_FOUND.
  warren_status status() const noexcept { return status_; }
  /// The AMQP reply code (warren_status_reply_code): 404 ...; 0 for a local status.
  std::uint16_t reply_code() const noexcept { return warren_status_reply_code(status_); }
  /// The status's name (warren_status_name), e.g. "WARREN_STATUS_NOT_FOUND".
  const char* status_name() const noexcept { return warren_status_name(status_); }

 private:
  warren_status status_;
};

/// The library's version (warren_version), e.g. "0.1.0".
inline std::string_view version() noexcept { return warren_version(); }

namespace detail {

/// This thread's last error text (warren_last_error).
inline std::string last_error() {
  std::size_t len = warren_last_error(nullptr, 0);
  std::vector<char> buf(len + 1);
  warren_last_error(buf.data(), buf.size());
  return std::string(buf.data(), len);
}

/// Throws Error unless `status` is WARREN_STATUS_OK.
inline void check(warren_status status) {
  if (status != WARREN_STATUS_OK) {
    throw Error(status, last_error());
  }
}

inline const std::uint8_t* bytes(std::string_view s) noexcept {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

inline std::string_view text(const std::uint8_t* ptr, std::size_t len) noexcept {
  return len == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(ptr), len);
}

/// A timeout in the C API's unit; negative durations are 0.
inline std::uint64_t millis(std::chrono::milliseconds ms) noexcept {
  return ms.count() < 0 ? 0 : static_cast<std::uint64_t>(ms.count());
}

/// Owns one C handle, freed by `Free`; move-only.
template <typename T, void (*Free)(T*)>
class Handle {
 public:
  Handle() noexcept = default;
  explicit Handle(T* ptr) noexcept : ptr_(ptr) {}
  Handle(Handle&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      ptr_ = std::exchange(other.ptr_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  T* get() const noexcept { return ptr_; }
  T* release() noexcept { return std::exchange(ptr_, nullptr); }
  void reset() noexcept { Free(std::exchange(ptr_, nullptr)); }  // _free(NULL) is a no-op
  void swap(Handle& other) noexcept { std::swap(ptr_, other.ptr_); }

 private:
  T* ptr_ = nullptr;
};

}  // namespace detail

class Connection;
class Channel;
class Consumer;

/// Exchange types (WARREN_EXCHANGE_TYPE_*).
enum class ExchangeType : warren_exchange_type {
  Direct = WARREN_EXCHANGE_TYPE_DIRECT,
  Fanout = WARREN_EXCHANGE_TYPE_FANOUT,
  Topic = WARREN_EXCHANGE_TYPE_TOPIC,
  Headers = WARREN_EXCHANGE_TYPE_HEADERS,
};

/// Message properties for Channel::basic_publish; an unset optional leaves the property unset.
/// The strings are borrowed for the publish call only.
struct Properties {
  std::uint8_t delivery_mode = 0;  ///< 2: persistent
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> correlation_id;
  std::optional<std::string_view> reply_to;
  std::optional<std::string_view> message_id;
};

/// What Channel::queue_declare reports.
struct QueueInfo {
  std::string name;  ///< the queue's name (server-named: amq.gen-...)
  std::uint32_t message_count = 0;
  std::uint32_t consumer_count = 0;
};

/// A message handed to the application (warren_delivery). Its views stay valid while it lives.
class Delivery {
 public:
  /// Adopts a C delivery handle (freed by the destructor).
  explicit Delivery(warren_delivery* d) noexcept : h_(d) {}

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_delivery* get() const noexcept { return h_.get(); }
  warren_delivery* release() noexcept { return h_.release(); }

  /// warren_delivery_body: the published bytes themselves, not a copy.
  std::string_view body() const { return field(warren_delivery_body).value_or(""); }
  /// warren_delivery_routing_key
  std::string_view routing_key() const { return field(warren_delivery_routing_key).value_or(""); }
  /// warren_delivery_exchange ("" for the default exchange)
  std::string_view exchange() const { return field(warren_delivery_exchange).value_or(""); }
  /// warren_delivery_correlation_id (std::nullopt when unset)
  std::optional<std::string_view> correlation_id() const {
    return field(warren_delivery_correlation_id);
  }
  /// warren_delivery_reply_to
  std::optional<std::string_view> reply_to() const { return field(warren_delivery_reply_to); }
  /// warren_delivery_content_type
  std::optional<std::string_view> content_type() const {
    return field(warren_delivery_content_type);
  }
  /// warren_delivery_message_id
  std::optional<std::string_view> message_id() const { return field(warren_delivery_message_id); }
  /// warren_delivery_delivery_mode
  std::uint8_t delivery_mode() const noexcept { return warren_delivery_delivery_mode(h_.get()); }
  /// warren_delivery_redelivered
  bool redelivered() const noexcept { return warren_delivery_redelivered(h_.get()); }
  /// warren_delivery_tag
  std::uint64_t tag() const noexcept { return warren_delivery_tag(h_.get()); }

  /// warren_delivery_ack
  void ack() { detail::check(warren_delivery_ack(h_.get())); }
  /// warren_delivery_nack
  void nack(bool multiple = false, bool requeue = true) {
    detail::check(warren_delivery_nack(h_.get(), multiple, requeue));
  }
  /// warren_delivery_reject
  void reject(bool requeue = true) { detail::check(warren_delivery_reject(h_.get(), requeue)); }

 private:
  using Accessor = warren_status (*)(const warren_delivery*, const std::uint8_t**, std::size_t*);
  std::optional<std::string_view> field(Accessor accessor) const {
    const std::uint8_t* ptr = nullptr;
    std::size_t len = 0;
    detail::check(accessor(h_.get(), &ptr, &len));
    if (ptr == nullptr) {
      return std::nullopt;
    }
    return detail::text(ptr, len);
  }

  detail::Handle<warren_delivery, warren_delivery_free> h_;
};

/// A consumer (warren_consumer): receive with recv(), or hand deliveries to on_delivery().
class Consumer {
 public:
  using Callback = std::function<void(std::optional<Delivery>)>;

  /// Adopts a C consumer handle.
  explicit Consumer(warren_consumer* c) noexcept : h_(c) {}
  Consumer(Consumer&&) noexcept = default;
  Consumer& operator=(Consumer&& other) noexcept {
    Consumer(std::move(other)).swap(*this);  // the old state goes in the right order
    return *this;
  }
  /// Frees the consumer (stopping and joining its callback thread), then the callback.
  ~Consumer() { h_.reset(); }

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_consumer* get() const noexcept { return h_.get(); }
  void swap(Consumer& other) noexcept {
    h_.swap(other.h_);
    callback_.swap(other.callback_);
  }

  /// warren_consumer_recv: the next delivery, or std::nullopt when none came within
  /// `timeout` (0 takes only one already waiting).
  std::optional<Delivery> recv(std::chrono::milliseconds timeout) {
    warren_delivery* d = nullptr;
    warren_status status = warren_consumer_recv(h_.get(), detail::millis(timeout), &d);
    if (status == WARREN_STATUS_TIMEOUT) {
      return std::nullopt;
    }
    detail::check(status);
    return Delivery(d);
  }

  /// warren_consumer_set_callback: `f` gets each delivery on the consumer's own thread, and
  /// std::nullopt once when the consumer ends. See the header comment for its lifetime.
  void on_delivery(Callback f) {
    auto owned = std::make_unique<Callback>(std::move(f));
    detail::check(warren_consumer_set_callback(h_.get(), &Consumer::trampoline, owned.get()));
    callback_ = std::move(owned);
  }

  /// warren_consumer_tag
  std::string tag() const {
    std::uint8_t buf[WARREN_MAX_NAME_LEN];
    std::size_t len = 0;
    detail::check(warren_consumer_tag(h_.get(), buf, sizeof buf, &len));
    return std::string(detail::text(buf, len));
  }

  /// warren_consumer_cancel
  void cancel() { detail::check(warren_consumer_cancel(h_.get())); }

 private:
  static void trampoline(void* userdata, warren_delivery* d) noexcept {
    auto& f = *static_cast<Callback*>(userdata);
    if (d == nullptr) {
      f(std::nullopt);
    } else {
      f(Delivery(d));
    }
  }

  std::unique_ptr<Callback> callback_;  // declared first: destroyed after the handle
  detail::Handle<warren_consumer, warren_consumer_free> h_;
};

/// A channel (warren_channel): one thread at a time.
class Channel {
 public:
  using ConfirmCallback = std::function<void(std::uint64_t seq, bool multiple, bool ack)>;

  /// Adopts a C channel handle.
  explicit Channel(warren_channel* ch) noexcept : h_(ch) {}
  Channel(Channel&&) noexcept = default;
  Channel& operator=(Channel&& other) noexcept {
    Channel(std::move(other)).swap(*this);  // the old state goes in the right order
    return *this;
  }
  /// Frees the channel; with a confirm callback, closes it first (see the header comment).
  ~Channel() {
    if (!confirm_callbacks_.empty()) {
      warren_channel_close(h_.get());
    }
    h_.reset();
  }

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_channel* get() const noexcept { return h_.get(); }
  void swap(Channel& other) noexcept {
    h_.swap(other.h_);
    confirm_callbacks_.swap(other.confirm_callbacks_);
  }

  /// warren_channel_exchange_declare (`flags`: WARREN_EXCHANGE_*)
  void exchange_declare(std::string_view name, ExchangeType type, warren_exchange_flags flags = 0) {
    detail::check(warren_channel_exchange_declare(h_.get(), detail::bytes(name), name.size(),
                                                  static_cast<warren_exchange_type>(type), flags));
  }
  /// warren_channel_exchange_delete
  void exchange_delete(std::string_view name, warren_exchange_flags flags = 0) {
    detail::check(
        warren_channel_exchange_delete(h_.get(), detail::bytes(name), name.size(), flags));
  }

  /// warren_channel_queue_declare (`flags`: WARREN_QUEUE_*); "" asks for a server-named queue.
  QueueInfo queue_declare(std::string_view name = {}, warren_queue_flags flags = 0) {
    std::uint8_t buf[WARREN_MAX_NAME_LEN];
    std::size_t len = 0;
    QueueInfo info;
    detail::check(warren_channel_queue_declare(h_.get(), detail::bytes(name), name.size(), flags,
                                               buf, sizeof buf, &len, &info.message_count,
                                               &info.consumer_count));
    info.name.assign(detail::text(buf, len));
    return info;
  }
  /// warren_channel_queue_bind
  void queue_bind(std::string_view queue, std::string_view exchange, std::string_view key = {}) {
    detail::check(warren_channel_queue_bind(h_.get(), detail::bytes(queue), queue.size(),
                                            detail::bytes(exchange), exchange.size(),
                                            detail::bytes(key), key.size()));
  }
  /// warren_channel_queue_unbind
  void queue_unbind(std::string_view queue, std::string_view exchange,
                    std::string_view key = {}) {
    detail::check(warren_channel_queue_unbind(h_.get(), detail::bytes(queue), queue.size(),
                                              detail::bytes(exchange), exchange.size(),
                                              detail::bytes(key), key.size()));
  }
  /// warren_channel_queue_delete: the messages it held.
  std::uint32_t queue_delete(std::string_view queue, warren_queue_flags flags = 0) {
    std::uint32_t count = 0;
    detail::check(
        warren_channel_queue_delete(h_.get(), detail::bytes(queue), queue.size(), flags, &count));
    return count;
  }
  /// warren_channel_queue_purge: the messages removed.
  std::uint32_t queue_purge(std::string_view queue) {
    std::uint32_t count = 0;
    detail::check(warren_channel_queue_purge(h_.get(), detail::bytes(queue), queue.size(), &count));
    return count;
  }

  /// warren_channel_basic_qos
  void basic_qos(std::uint16_t prefetch_count, bool global = false) {
    detail::check(warren_channel_basic_qos(h_.get(), prefetch_count, global));
  }

  /// warren_channel_basic_publish: the number of queues that took the message.
  std::size_t basic_publish(std::string_view exchange, std::string_view routing_key,
                            std::string_view body, const Properties& props = {},
                            bool mandatory = false) {
    warren_properties p{};
    p.delivery_mode = props.delivery_mode;
    set(props.content_type, p.content_type, p.content_type_len);
    set(props.correlation_id, p.correlation_id, p.correlation_id_len);
    set(props.reply_to, p.reply_to, p.reply_to_len);
    set(props.message_id, p.message_id, p.message_id_len);
    std::size_t queues = 0;
    detail::check(warren_channel_basic_publish(
        h_.get(), detail::bytes(exchange), exchange.size(), detail::bytes(routing_key),
        routing_key.size(), detail::bytes(body), body.size(), &p, mandatory, &queues));
    return queues;
  }

  /// warren_channel_basic_consume ("" tag: a generated one).
  Consumer basic_consume(std::string_view queue, std::string_view consumer_tag = {},
                         bool no_ack = false, bool exclusive = false) {
    warren_consumer* c = nullptr;
    detail::check(warren_channel_basic_consume(h_.get(), detail::bytes(queue), queue.size(),
                                               detail::bytes(consumer_tag), consumer_tag.size(),
                                               no_ack, exclusive, &c));
    return Consumer(c);
  }

  /// warren_channel_basic_get: the head message, or std::nullopt when the queue is empty;
  /// `message_count` (optional) gets the ready messages left.
  std::optional<Delivery> basic_get(std::string_view queue, bool no_ack = false,
                                    std::uint32_t* message_count = nullptr) {
    warren_delivery* d = nullptr;
    detail::check(warren_channel_basic_get(h_.get(), detail::bytes(queue), queue.size(), no_ack,
                                           &d, message_count));
    if (d == nullptr) {
      return std::nullopt;
    }
    return Delivery(d);
  }

  /// warren_channel_basic_ack
  void basic_ack(std::uint64_t delivery_tag, bool multiple = false) {
    detail::check(warren_channel_basic_ack(h_.get(), delivery_tag, multiple));
  }
  /// warren_channel_basic_nack
  void basic_nack(std::uint64_t delivery_tag, bool multiple = false, bool requeue = true) {
    detail::check(warren_channel_basic_nack(h_.get(), delivery_tag, multiple, requeue));
  }
  /// warren_channel_basic_reject
  void basic_reject(std::uint64_t delivery_tag, bool requeue = true) {
    detail::check(warren_channel_basic_reject(h_.get(), delivery_tag, requeue));
  }

  /// warren_channel_confirm_select
  void confirm_select() { detail::check(warren_channel_confirm_select(h_.get())); }
  /// warren_channel_next_publish_seq_no (0 outside confirm mode)
  std::uint64_t next_publish_seq_no() const noexcept {
    return warren_channel_next_publish_seq_no(h_.get());
  }
  /// warren_channel_wait_for_confirms: whether every outcome since the last wait was an ack.
  bool wait_for_confirms(std::chrono::milliseconds timeout) {
    bool all_acked = false;
    detail::check(warren_channel_wait_for_confirms(h_.get(), detail::millis(timeout), &all_acked));
    return all_acked;
  }
  /// warren_channel_wait_for_confirms_or_die
  void wait_for_confirms_or_die(std::chrono::milliseconds timeout) {
    detail::check(warren_channel_wait_for_confirms_or_die(h_.get(), detail::millis(timeout)));
  }
  /// warren_channel_set_confirm_callback: see the header comment for its threads and lifetime.
  void on_confirm(ConfirmCallback f) {
    auto owned = std::make_unique<ConfirmCallback>(std::move(f));
    detail::check(
        warren_channel_set_confirm_callback(h_.get(), &Channel::confirm_trampoline, owned.get()));
    confirm_callbacks_.push_back(std::move(owned));
  }

  /// warren_channel_close (the destructor frees it)
  void close() { detail::check(warren_channel_close(h_.get())); }

 private:
  static void set(const std::optional<std::string_view>& value, const std::uint8_t*& ptr,
                  std::size_t& len) noexcept {
    static const std::uint8_t empty = 0;
    if (value) {
      ptr = value->empty() ? &empty : detail::bytes(*value);  // set, possibly to ""
      len = value->size();
    }
  }

  static void confirm_trampoline(void* userdata, std::uint64_t seq, bool multiple,
                                 bool ack) noexcept {
    (*static_cast<ConfirmCallback*>(userdata))(seq, multiple, ack);
  }

  std::vector<std::unique_ptr<ConfirmCallback>> confirm_callbacks_;  // destroyed after h_
  detail::Handle<warren_channel, warren_channel_free> h_;
};

/// A connection (warren_connection): thread-safe.
class Connection {
 public:
  /// Adopts a C connection handle.
  explicit Connection(warren_connection* c) noexcept : h_(c) {}

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_connection* get() const noexcept { return h_.get(); }
  warren_connection* release() noexcept { return h_.release(); }

  /// warren_connection_create_channel
  Channel create_channel() const {
    warren_channel* ch = nullptr;
    detail::check(warren_connection_create_channel(h_.get(), &ch));
    return Channel(ch);
  }
  /// warren_connection_close (the destructor frees it)
  void close() const { detail::check(warren_connection_close(h_.get())); }

 private:
  detail::Handle<warren_connection, warren_connection_free> h_;
};

/// A broker (warren_broker): thread-safe.
class Broker {
 public:
  /// warren_broker_new: an in-memory broker.
  Broker() {
    warren_broker* b = nullptr;
    detail::check(warren_broker_new(&b));
    h_ = decltype(h_)(b);
  }
  /// Adopts a C broker handle.
  explicit Broker(warren_broker* b) noexcept : h_(b) {}

  /// warren_broker_open: a durable broker on the data directory `dir`.
  static Broker open(std::string_view dir) {
    warren_broker* b = nullptr;
    detail::check(warren_broker_open(detail::bytes(dir), dir.size(), &b));
    return Broker(b);
  }

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_broker* get() const noexcept { return h_.get(); }
  warren_broker* release() noexcept { return h_.release(); }

  /// warren_broker_connect
  Connection connect() const {
    warren_connection* c = nullptr;
    detail::check(warren_broker_connect(h_.get(), &c));
    return Connection(c);
  }
  /// warren_broker_close (the destructor frees it)
  void close() const { detail::check(warren_broker_close(h_.get())); }

 private:
  detail::Handle<warren_broker, warren_broker_free> h_;
};

/// The bare topic matcher (warren_topic): thread-safe.
class TopicMatcher {
 public:
  /// warren_topic_new
  TopicMatcher() {
    warren_topic* t = nullptr;
    detail::check(warren_topic_new(&t));
    h_ = decltype(h_)(t);
  }

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_topic* get() const noexcept { return h_.get(); }

  /// warren_topic_bind: whether the binding is new.
  bool bind(std::string_view pattern, std::uint64_t dest) const {
    bool added = false;
    detail::check(warren_topic_bind(h_.get(), detail::bytes(pattern), pattern.size(), dest, &added));
    return added;
  }
  /// warren_topic_unbind: whether it existed.
  bool unbind(std::string_view pattern, std::uint64_t dest) const {
    bool removed = false;
    detail::check(
        warren_topic_unbind(h_.get(), detail::bytes(pattern), pattern.size(), dest, &removed));
    return removed;
  }
  /// warren_topic_route: every matching destination once, in no order. Routes again with the
  /// room WARREN_STATUS_BUFFER_TOO_SMALL asks for, as the C docs say to.
  std::vector<std::uint64_t> route(std::string_view key) const {
    std::vector<std::uint64_t> dests(16);
    for (;;) {
      std::size_t count = 0;
      warren_status status = warren_topic_route(h_.get(), detail::bytes(key), key.size(),
                                                dests.data(), dests.size(), &count);
      if (status == WARREN_STATUS_BUFFER_TOO_SMALL) {
        dests.resize(count);
        continue;
      }
      detail::check(status);
      dests.resize(count);
      return dests;
    }
  }

 private:
  detail::Handle<warren_topic, warren_topic_free> h_;
};

}  // namespace warren

#endif  // WARREN_HPP
