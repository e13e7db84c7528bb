// warren.hpp: a header-only C++17 RAII wrapper over warren.h, the C API of warren.
//
// It adds move-only ownership and C++ types, never logic (STYLE 10): every method is one C
// call (the one named in its comment), and the C documentation in warren.h is the reference
// for what each does, its errors and its threading.
//
// Ownership. Broker, Connection, Channel, Consumer, Delivery and TopicMatcher each own one C
// handle and free it in their destructor (`warren_<object>_free`); so do the plain values
// Table, Array, Properties and BrokerOptions. They are move-only; a moved-from object holds no
// handle: it is safe to destroy or assign to, `!obj` is true, and any other call on it throws
// Error with WARREN_STATUS_NULL_ARGUMENT (the C call gets NULL). As in C, objects may be
// destroyed in any order (a channel keeps its connection alive, a consumer its channel).
// `get()` lends the C handle; `release()` gives it up to the caller.
//
// Views. TableView, ArrayView and PropertiesView borrow what C calls a view (a delivery's
// properties and headers, a nested table, a returned message's properties): they are valid
// while what they were read from lives unchanged, and free nothing. A Table, Array or
// Properties converts to its view, so every read method and every argument taking a view
// (`arguments` of a declare, a publish's properties, a nested table) takes either. A default
// TableView is NULL: no arguments.
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
// (their methods are const); a Channel, Consumer, Delivery or plain value is used by one
// thread at a time.
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
//   that waited for an fsync; calls never overlap. warren_channel_close, and a replacing
//   warren_channel_set_confirm_callback, wait for a call running on another thread, so
//   ~Channel closes a channel that has a confirm callback before freeing it (its consumers
//   end too; a channel without one is only freed, as warren_channel_free does). A replaced
//   std::function is kept until the Channel is destroyed (f may replace itself).
// - `Channel::on_return(f)`: f(const ReturnedMessage&) runs on the publishing thread, inside
//   a mandatory basic_publish of this channel that no queue took, before it throws NO_ROUTE;
//   the message's views are valid during the call only. Kept like on_confirm's.
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

class TableView;
class ArrayView;

/// One value read from a table or an array (warren_value): `kind` (WARREN_VALUE_*) says which
/// field holds it; `table` and `array` give the nested views.
struct Value {
  warren_value raw;

  warren_value_kind kind() const noexcept { return raw.kind; }
  /// The bytes of a WARREN_VALUE_STRING or _BYTES value (a view).
  std::string_view bytes() const noexcept { return detail::text(raw.bytes, raw.bytes_len); }
  /// A nested WARREN_VALUE_TABLE (a view; NULL for another kind).
  TableView table() const noexcept;
  /// A WARREN_VALUE_ARRAY (a view; NULL for another kind).
  ArrayView array() const noexcept;
};

/// A borrowed field table (const warren_table *): read it; never freed by this object.
class TableView {
 public:
  TableView() noexcept = default;  // NULL: as an argument, "no arguments"
  explicit TableView(const warren_table* t) noexcept : t_(t) {}

  const warren_table* get() const noexcept { return t_; }
  explicit operator bool() const noexcept { return t_ != nullptr; }

  /// warren_table_len
  std::size_t size() const noexcept { return warren_table_len(t_); }
  /// warren_table_get: the field `name`, or std::nullopt when absent.
  std::optional<Value> get(std::string_view name) const {
    Value v{};
    bool found = false;
    detail::check(warren_table_get(t_, detail::bytes(name), name.size(), &found, &v.raw));
    if (!found) {
      return std::nullopt;
    }
    return v;
  }
  /// warren_table_entry: the field at `index` in name order.
  std::pair<std::string_view, Value> entry(std::size_t index) const {
    const std::uint8_t* name = nullptr;
    std::size_t len = 0;
    Value v{};
    detail::check(warren_table_entry(t_, index, &name, &len, &v.raw));
    return {detail::text(name, len), v};
  }

 private:
  const warren_table* t_ = nullptr;
};

/// A borrowed array (const warren_array *).
class ArrayView {
 public:
  ArrayView() noexcept = default;
  explicit ArrayView(const warren_array* a) noexcept : a_(a) {}

  const warren_array* get() const noexcept { return a_; }
  explicit operator bool() const noexcept { return a_ != nullptr; }

  /// warren_array_len
  std::size_t size() const noexcept { return warren_array_len(a_); }
  /// warren_array_get
  Value at(std::size_t index) const {
    Value v{};
    detail::check(warren_array_get(a_, index, &v.raw));
    return v;
  }

 private:
  const warren_array* a_ = nullptr;
};

inline TableView Value::table() const noexcept { return TableView(raw.table); }
inline ArrayView Value::array() const noexcept { return ArrayView(raw.array); }

/// An owned field table (warren_table_new ... warren_table_free). Setters return *this.
class Table {
 public:
  /// warren_table_new
  Table() {
    warren_table* t = nullptr;
    detail::check(warren_table_new(&t));
    h_ = decltype(h_)(t);
  }
  /// warren_table_copy: an owned copy of a view (e.g. a delivery's headers).
  explicit Table(TableView from) {
    warren_table* t = nullptr;
    detail::check(warren_table_copy(from.get(), &t));
    h_ = decltype(h_)(t);
  }

  warren_table* get() const noexcept { return h_.get(); }
  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  TableView view() const noexcept { return TableView(h_.get()); }
  operator TableView() const noexcept { return view(); }  // NOLINT: a view of what it owns

  std::size_t size() const noexcept { return view().size(); }
  std::optional<Value> get(std::string_view name) const { return view().get(name); }
  std::pair<std::string_view, Value> entry(std::size_t i) const { return view().entry(i); }

  /// warren_table_set_bool
  Table& set_bool(std::string_view name, bool v) {
    return done(warren_table_set_bool(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_i8
  Table& set_i8(std::string_view name, std::int8_t v) {
    return done(warren_table_set_i8(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_u8
  Table& set_u8(std::string_view name, std::uint8_t v) {
    return done(warren_table_set_u8(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_i16
  Table& set_i16(std::string_view name, std::int16_t v) {
    return done(warren_table_set_i16(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_u16
  Table& set_u16(std::string_view name, std::uint16_t v) {
    return done(warren_table_set_u16(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_i32
  Table& set_i32(std::string_view name, std::int32_t v) {
    return done(warren_table_set_i32(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_u32
  Table& set_u32(std::string_view name, std::uint32_t v) {
    return done(warren_table_set_u32(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_i64
  Table& set_i64(std::string_view name, std::int64_t v) {
    return done(warren_table_set_i64(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_u64
  Table& set_u64(std::string_view name, std::uint64_t v) {
    return done(warren_table_set_u64(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_float
  Table& set_float(std::string_view name, float v) {
    return done(warren_table_set_float(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_double
  Table& set_double(std::string_view name, double v) {
    return done(warren_table_set_double(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_decimal
  Table& set_decimal(std::string_view name, std::uint8_t scale, std::uint32_t v) {
    return done(warren_table_set_decimal(h_.get(), n(name), name.size(), scale, v));
  }
  /// warren_table_set_string (a long string)
  Table& set_string(std::string_view name, std::string_view v) {
    return done(
        warren_table_set_string(h_.get(), n(name), name.size(), detail::bytes(v), v.size()));
  }
  /// warren_table_set_bytes (a byte array)
  Table& set_bytes(std::string_view name, std::string_view v) {
    return done(
        warren_table_set_bytes(h_.get(), n(name), name.size(), detail::bytes(v), v.size()));
  }
  /// warren_table_set_timestamp
  Table& set_timestamp(std::string_view name, std::uint64_t v) {
    return done(warren_table_set_timestamp(h_.get(), n(name), name.size(), v));
  }
  /// warren_table_set_void
  Table& set_void(std::string_view name) {
    return done(warren_table_set_void(h_.get(), n(name), name.size()));
  }
  /// warren_table_set_table (copies `v`)
  Table& set_table(std::string_view name, TableView v) {
    return done(warren_table_set_table(h_.get(), n(name), name.size(), v.get()));
  }
  /// warren_table_set_array (copies `v`)
  Table& set_array(std::string_view name, ArrayView v) {
    return done(warren_table_set_array(h_.get(), n(name), name.size(), v.get()));
  }
  /// warren_table_remove: whether the field was there.
  bool remove(std::string_view name) {
    bool removed = false;
    detail::check(warren_table_remove(h_.get(), n(name), name.size(), &removed));
    return removed;
  }

 private:
  static const std::uint8_t* n(std::string_view name) noexcept { return detail::bytes(name); }
  Table& done(warren_status status) {
    detail::check(status);
    return *this;
  }

  detail::Handle<warren_table, warren_table_free> h_;
};

/// An owned array (warren_array_new ... warren_array_free). Pushes return *this.
class Array {
 public:
  /// warren_array_new
  Array() {
    warren_array* a = nullptr;
    detail::check(warren_array_new(&a));
    h_ = decltype(h_)(a);
  }

  warren_array* get() const noexcept { return h_.get(); }
  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  ArrayView view() const noexcept { return ArrayView(h_.get()); }
  operator ArrayView() const noexcept { return view(); }  // NOLINT: a view of what it owns

  std::size_t size() const noexcept { return view().size(); }
  Value at(std::size_t index) const { return view().at(index); }

  /// warren_array_push_bool
  Array& push_bool(bool v) { return done(warren_array_push_bool(h_.get(), v)); }
  /// warren_array_push_i8
  Array& push_i8(std::int8_t v) { return done(warren_array_push_i8(h_.get(), v)); }
  /// warren_array_push_u8
  Array& push_u8(std::uint8_t v) { return done(warren_array_push_u8(h_.get(), v)); }
  /// warren_array_push_i16
  Array& push_i16(std::int16_t v) { return done(warren_array_push_i16(h_.get(), v)); }
  /// warren_array_push_u16
  Array& push_u16(std::uint16_t v) { return done(warren_array_push_u16(h_.get(), v)); }
  /// warren_array_push_i32
  Array& push_i32(std::int32_t v) { return done(warren_array_push_i32(h_.get(), v)); }
  /// warren_array_push_u32
  Array& push_u32(std::uint32_t v) { return done(warren_array_push_u32(h_.get(), v)); }
  /// warren_array_push_i64
  Array& push_i64(std::int64_t v) { return done(warren_array_push_i64(h_.get(), v)); }
  /// warren_array_push_u64
  Array& push_u64(std::uint64_t v) { return done(warren_array_push_u64(h_.get(), v)); }
  /// warren_array_push_float
  Array& push_float(float v) { return done(warren_array_push_float(h_.get(), v)); }
  /// warren_array_push_double
  Array& push_double(double v) { return done(warren_array_push_double(h_.get(), v)); }
  /// warren_array_push_decimal
  Array& push_decimal(std::uint8_t scale, std::uint32_t v) {
    return done(warren_array_push_decimal(h_.get(), scale, v));
  }
  /// warren_array_push_string
  Array& push_string(std::string_view v) {
    return done(warren_array_push_string(h_.get(), detail::bytes(v), v.size()));
  }
  /// warren_array_push_bytes
  Array& push_bytes(std::string_view v) {
    return done(warren_array_push_bytes(h_.get(), detail::bytes(v), v.size()));
  }
  /// warren_array_push_timestamp
  Array& push_timestamp(std::uint64_t v) { return done(warren_array_push_timestamp(h_.get(), v)); }
  /// warren_array_push_void
  Array& push_void() { return done(warren_array_push_void(h_.get())); }
  /// warren_array_push_table (copies `v`)
  Array& push_table(TableView v) { return done(warren_array_push_table(h_.get(), v.get())); }
  /// warren_array_push_array (copies `v`)
  Array& push_array(ArrayView v) { return done(warren_array_push_array(h_.get(), v.get())); }

 private:
  Array& done(warren_status status) {
    detail::check(status);
    return *this;
  }

  detail::Handle<warren_array, warren_array_free> h_;
};

/// Borrowed message properties (const warren_properties *): a delivery's or a returned
/// message's, or an owned Properties'. Unset properties read as std::nullopt.
class PropertiesView {
 public:
  PropertiesView() noexcept = default;  // NULL: as a publish argument, no properties
  explicit PropertiesView(const warren_properties* p) noexcept : p_(p) {}

  const warren_properties* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

  /// warren_properties_content_type
  std::optional<std::string_view> content_type() const {
    return text(warren_properties_content_type);
  }
  /// warren_properties_content_encoding
  std::optional<std::string_view> content_encoding() const {
    return text(warren_properties_content_encoding);
  }
  /// warren_properties_correlation_id
  std::optional<std::string_view> correlation_id() const {
    return text(warren_properties_correlation_id);
  }
  /// warren_properties_reply_to
  std::optional<std::string_view> reply_to() const { return text(warren_properties_reply_to); }
  /// warren_properties_expiration
  std::optional<std::string_view> expiration() const { return text(warren_properties_expiration); }
  /// warren_properties_message_id
  std::optional<std::string_view> message_id() const { return text(warren_properties_message_id); }
  /// warren_properties_type
  std::optional<std::string_view> type() const { return text(warren_properties_type); }
  /// warren_properties_user_id
  std::optional<std::string_view> user_id() const { return text(warren_properties_user_id); }
  /// warren_properties_app_id
  std::optional<std::string_view> app_id() const { return text(warren_properties_app_id); }
  /// warren_properties_cluster_id
  std::optional<std::string_view> cluster_id() const { return text(warren_properties_cluster_id); }
  /// warren_properties_delivery_mode
  std::optional<std::uint8_t> delivery_mode() const {
    return number<std::uint8_t>(warren_properties_delivery_mode);
  }
  /// warren_properties_priority
  std::optional<std::uint8_t> priority() const {
    return number<std::uint8_t>(warren_properties_priority);
  }
  /// warren_properties_timestamp
  std::optional<std::uint64_t> timestamp() const {
    return number<std::uint64_t>(warren_properties_timestamp);
  }
  /// warren_properties_headers: std::nullopt when the message has none.
  std::optional<TableView> headers() const {
    const warren_table* t = nullptr;
    detail::check(warren_properties_headers(p_, &t));
    if (t == nullptr) {
      return std::nullopt;
    }
    return TableView(t);
  }

 private:
  using Text = warren_status (*)(const warren_properties*, const std::uint8_t**, std::size_t*);
  std::optional<std::string_view> text(Text getter) const {
    const std::uint8_t* ptr = nullptr;
    std::size_t len = 0;
    detail::check(getter(p_, &ptr, &len));
    if (ptr == nullptr) {
      return std::nullopt;
    }
    return detail::text(ptr, len);
  }
  template <typename T>
  std::optional<T> number(warren_status (*getter)(const warren_properties*, bool*, T*)) const {
    bool set = false;
    T value{};
    detail::check(getter(p_, &set, &value));
    if (!set) {
      return std::nullopt;
    }
    return value;
  }

  const warren_properties* p_ = nullptr;
};

/// Owned message properties for Channel::basic_publish (warren_properties_new ...
/// warren_properties_free): none set at first; setters return *this; a publish copies what
/// it needs, so one object serves many publishes.
class Properties {
 public:
  /// warren_properties_new
  Properties() {
    warren_properties* p = nullptr;
    detail::check(warren_properties_new(&p));
    h_ = decltype(h_)(p);
  }

  warren_properties* get() const noexcept { return h_.get(); }
  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  PropertiesView view() const noexcept { return PropertiesView(h_.get()); }
  operator PropertiesView() const noexcept { return view(); }  // NOLINT: a view of what it owns

  /// warren_properties_set_content_type
  Properties& content_type(std::string_view v) {
    return text(warren_properties_set_content_type, v);
  }
  /// warren_properties_set_content_encoding
  Properties& content_encoding(std::string_view v) {
    return text(warren_properties_set_content_encoding, v);
  }
  /// warren_properties_set_correlation_id
  Properties& correlation_id(std::string_view v) {
    return text(warren_properties_set_correlation_id, v);
  }
  /// warren_properties_set_reply_to
  Properties& reply_to(std::string_view v) { return text(warren_properties_set_reply_to, v); }
  /// warren_properties_set_expiration (decimal milliseconds)
  Properties& expiration(std::string_view v) { return text(warren_properties_set_expiration, v); }
  /// warren_properties_set_message_id
  Properties& message_id(std::string_view v) { return text(warren_properties_set_message_id, v); }
  /// warren_properties_set_type
  Properties& type(std::string_view v) { return text(warren_properties_set_type, v); }
  /// warren_properties_set_user_id
  Properties& user_id(std::string_view v) { return text(warren_properties_set_user_id, v); }
  /// warren_properties_set_app_id
  Properties& app_id(std::string_view v) { return text(warren_properties_set_app_id, v); }
  /// warren_properties_set_cluster_id
  Properties& cluster_id(std::string_view v) { return text(warren_properties_set_cluster_id, v); }
  /// warren_properties_set_delivery_mode (2: persistent)
  Properties& delivery_mode(std::uint8_t v) {
    return done(warren_properties_set_delivery_mode(h_.get(), v));
  }
  /// warren_properties_set_priority
  Properties& priority(std::uint8_t v) { return done(warren_properties_set_priority(h_.get(), v)); }
  /// warren_properties_set_timestamp
  Properties& timestamp(std::uint64_t v) {
    return done(warren_properties_set_timestamp(h_.get(), v));
  }
  /// warren_properties_set_headers (copies `headers`; a NULL view unsets them)
  Properties& headers(TableView headers) {
    return done(warren_properties_set_headers(h_.get(), headers.get()));
  }
  /// warren_properties_clear
  Properties& clear() { return done(warren_properties_clear(h_.get())); }

 private:
  using Setter = warren_status (*)(warren_properties*, const std::uint8_t*, std::size_t);
  Properties& text(Setter setter, std::string_view v) {
    static const std::uint8_t empty = 0;  // set, possibly to ""
    return done(setter(h_.get(), v.empty() ? &empty : detail::bytes(v), v.size()));
  }
  Properties& done(warren_status status) {
    detail::check(status);
    return *this;
  }

  detail::Handle<warren_properties, warren_properties_free> h_;
};

/// Broker settings (warren_broker_options_new ... _free), for Broker(options) and
/// Broker::open(dir, options). Setters return *this; brokers copy them.
class BrokerOptions {
 public:
  /// warren_broker_options_new: the defaults.
  BrokerOptions() {
    warren_broker_options* o = nullptr;
    detail::check(warren_broker_options_new(&o));
    h_ = decltype(h_)(o);
  }

  const warren_broker_options* get() const noexcept { return h_.get(); }

  /// warren_broker_options_set_max_message_size
  BrokerOptions& max_message_size(std::size_t bytes) {
    return done(warren_broker_options_set_max_message_size(h_.get(), bytes));
  }
  /// warren_broker_options_set_channel_max
  BrokerOptions& channel_max(std::uint16_t channels) {
    return done(warren_broker_options_set_channel_max(h_.get(), channels));
  }
  /// warren_broker_options_set_consumer_timeout (0: off)
  BrokerOptions& consumer_timeout(std::chrono::milliseconds t) {
    return done(warren_broker_options_set_consumer_timeout(h_.get(), detail::millis(t)));
  }
  /// warren_broker_options_set_manual_clock
  BrokerOptions& manual_clock(std::uint64_t start_ms) {
    return done(warren_broker_options_set_manual_clock(h_.get(), start_ms));
  }
  /// warren_broker_options_set_segment_size
  BrokerOptions& segment_size(std::uint64_t bytes) {
    return done(warren_broker_options_set_segment_size(h_.get(), bytes));
  }

 private:
  BrokerOptions& done(warren_status status) {
    detail::check(status);
    return *this;
  }

  detail::Handle<warren_broker_options, warren_broker_options_free> h_;
};

/// A message returned to its publisher (warren_returned_message): views valid during the
/// Channel::on_return callback only.
struct ReturnedMessage {
  std::uint16_t reply_code = 0;  ///< 312
  std::string_view reply_text;   ///< NO_ROUTE
  std::string_view exchange;
  std::string_view routing_key;
  PropertiesView properties;
  std::string_view body;
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
  /// warren_delivery_properties: every property (a view valid while this Delivery lives).
  PropertiesView properties() const {
    const warren_properties* p = nullptr;
    detail::check(warren_delivery_properties(h_.get(), &p));
    return PropertiesView(p);
  }
  /// warren_delivery_consumer_tag (std::nullopt for basic_get)
  std::optional<std::string_view> consumer_tag() const {
    return field(warren_delivery_consumer_tag);
  }
  /// warren_delivery_failed_count (SEMANTICS A10)
  std::uint32_t failed_count() const noexcept { return warren_delivery_failed_count(h_.get()); }
  /// warren_delivery_returned_count (SEMANTICS A10)
  std::uint32_t returned_count() const noexcept {
    return warren_delivery_returned_count(h_.get());
  }

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
  using ReturnCallback = std::function<void(const ReturnedMessage&)>;

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
  }  // then the callbacks (declared before h_)

  explicit operator bool() const noexcept { return h_.get() != nullptr; }
  warren_channel* get() const noexcept { return h_.get(); }
  void swap(Channel& other) noexcept {
    h_.swap(other.h_);
    confirm_callbacks_.swap(other.confirm_callbacks_);
    return_callbacks_.swap(other.return_callbacks_);
  }

  /// warren_channel_exchange_declare (`flags`: WARREN_EXCHANGE_*; `arguments`: a Table or
  /// view, e.g. alternate-exchange; none by default)
  void exchange_declare(std::string_view name, ExchangeType type, warren_exchange_flags flags = 0,
                        TableView arguments = {}) {
    detail::check(warren_channel_exchange_declare(h_.get(), detail::bytes(name), name.size(),
                                                  static_cast<warren_exchange_type>(type), flags,
                                                  arguments.get()));
  }
  /// warren_channel_exchange_bind: `source` feeds `destination` (AMQP order: destination
  /// first).
  void exchange_bind(std::string_view destination, std::string_view source,
                     std::string_view key = {}, TableView arguments = {}) {
    detail::check(warren_channel_exchange_bind(h_.get(), detail::bytes(destination),
                                               destination.size(), detail::bytes(source),
                                               source.size(), detail::bytes(key), key.size(),
                                               arguments.get()));
  }
  /// warren_channel_exchange_unbind
  void exchange_unbind(std::string_view destination, std::string_view source,
                       std::string_view key = {}, TableView arguments = {}) {
    detail::check(warren_channel_exchange_unbind(h_.get(), detail::bytes(destination),
                                                 destination.size(), detail::bytes(source),
                                                 source.size(), detail::bytes(key), key.size(),
                                                 arguments.get()));
  }
  /// warren_channel_exchange_delete
  void exchange_delete(std::string_view name, warren_exchange_flags flags = 0) {
    detail::check(
        warren_channel_exchange_delete(h_.get(), detail::bytes(name), name.size(), flags));
  }

  /// warren_channel_queue_declare (`flags`: WARREN_QUEUE_*; `arguments`: x-queue-type,
  /// x-message-ttl...); "" asks for a server-named queue.
  QueueInfo queue_declare(std::string_view name = {}, warren_queue_flags flags = 0,
                          TableView arguments = {}) {
    std::uint8_t buf[WARREN_MAX_NAME_LEN];
    std::size_t len = 0;
    QueueInfo info;
    detail::check(warren_channel_queue_declare(h_.get(), detail::bytes(name), name.size(), flags,
                                               arguments.get(), buf, sizeof buf, &len,
                                               &info.message_count, &info.consumer_count));
    info.name.assign(detail::text(buf, len));
    return info;
  }
  /// warren_channel_queue_bind (`arguments`: a headers exchange's terms and x-match)
  void queue_bind(std::string_view queue, std::string_view exchange, std::string_view key = {},
                  TableView arguments = {}) {
    detail::check(warren_channel_queue_bind(h_.get(), detail::bytes(queue), queue.size(),
                                            detail::bytes(exchange), exchange.size(),
                                            detail::bytes(key), key.size(), arguments.get()));
  }
  /// warren_channel_queue_unbind (the binding's arguments too)
  void queue_unbind(std::string_view queue, std::string_view exchange,
                    std::string_view key = {}, TableView arguments = {}) {
    detail::check(warren_channel_queue_unbind(h_.get(), detail::bytes(queue), queue.size(),
                                              detail::bytes(exchange), exchange.size(),
                                              detail::bytes(key), key.size(), arguments.get()));
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

  /// warren_channel_basic_publish: the number of queues that took the message. `props` (a
  /// Properties or a view, e.g. a delivery's) is read during the call only; the default, a
  /// NULL view, publishes with no property set.
  std::size_t basic_publish(std::string_view exchange, std::string_view routing_key,
                            std::string_view body, PropertiesView props = {},
                            bool mandatory = false) {
    std::size_t queues = 0;
    detail::check(warren_channel_basic_publish(
        h_.get(), detail::bytes(exchange), exchange.size(), detail::bytes(routing_key),
        routing_key.size(), detail::bytes(body), body.size(), props.get(), mandatory, &queues));
    return queues;
  }

  /// warren_channel_basic_consume ("" tag: a generated one; `arguments`: x-priority,
  /// x-consumer-timeout).
  Consumer basic_consume(std::string_view queue, std::string_view consumer_tag = {},
                         bool no_ack = false, bool exclusive = false, TableView arguments = {}) {
    warren_consumer* c = nullptr;
    detail::check(warren_channel_basic_consume(h_.get(), detail::bytes(queue), queue.size(),
                                               detail::bytes(consumer_tag), consumer_tag.size(),
                                               no_ack, exclusive, arguments.get(), &c));
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
  /// warren_channel_basic_recover (requeue must be true: false is 540)
  void basic_recover(bool requeue = true) {
    detail::check(warren_channel_basic_recover(h_.get(), requeue));
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

  /// warren_channel_set_return_callback: see the header comment for its thread and lifetime.
  void on_return(ReturnCallback f) {
    auto owned = std::make_unique<ReturnCallback>(std::move(f));
    detail::check(
        warren_channel_set_return_callback(h_.get(), &Channel::return_trampoline, owned.get()));
    return_callbacks_.push_back(std::move(owned));
  }

  /// warren_channel_close (the destructor frees it)
  void close() { detail::check(warren_channel_close(h_.get())); }

 private:
  static void return_trampoline(void* userdata, const warren_returned_message* m) noexcept {
    ReturnedMessage r;
    r.reply_code = m->reply_code;
    r.reply_text = detail::text(m->reply_text, m->reply_text_len);
    r.exchange = detail::text(m->exchange, m->exchange_len);
    r.routing_key = detail::text(m->routing_key, m->routing_key_len);
    r.properties = PropertiesView(m->properties);
    r.body = detail::text(m->body, m->body_len);
    (*static_cast<ReturnCallback*>(userdata))(r);
  }

  static void confirm_trampoline(void* userdata, std::uint64_t seq, bool multiple,
                                 bool ack) noexcept {
    (*static_cast<ConfirmCallback*>(userdata))(seq, multiple, ack);
  }

  std::vector<std::unique_ptr<ConfirmCallback>> confirm_callbacks_;  // destroyed after h_
  std::vector<std::unique_ptr<ReturnCallback>> return_callbacks_;    // destroyed after h_
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
  /// warren_broker_new_with_options
  explicit Broker(const BrokerOptions& options) {
    warren_broker* b = nullptr;
    detail::check(warren_broker_new_with_options(options.get(), &b));
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
  /// warren_broker_open_with_options
  static Broker open(std::string_view dir, const BrokerOptions& options) {
    warren_broker* b = nullptr;
    detail::check(
        warren_broker_open_with_options(detail::bytes(dir), dir.size(), options.get(), &b));
    return Broker(b);
  }

  /// warren_broker_advance_clock (a broker made with BrokerOptions::manual_clock)
  void advance_clock(std::chrono::milliseconds by) const {
    detail::check(warren_broker_advance_clock(h_.get(), detail::millis(by)));
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
    detail::check(warren_topic_bind(h_.get(), detail::bytes(pattern), pattern.size(), dest,
                                    &added));
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
