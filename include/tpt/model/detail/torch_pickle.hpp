// Reading and writing the files of Python's torch.save (zip format since PyTorch 1.6, and the
// legacy format before it; LibTorch's torch::pickle_save too), restricted to what state_dicts hold.
#pragma once

// Why not torch::pickle_load: LibTorch 1.13's unpickler turns collections.OrderedDict (what
// Module.state_dict() returns) into None and then fails ("Expected GenericDict but got None",
// pytorch/pytorch#100741). This reader understands the pickle opcodes torch.save emits, builds
// only plain values (None, bool, int, float, str, tuple, list, dict, tensor) and never runs code:
// every Python callable it meets is checked against a short list of torch rebuild functions.

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <ostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "tpt/core/error.hpp"

namespace tpt::detail::pickle {

struct value;
using tuple_ptr = std::shared_ptr<const std::vector<value>>;
using list_ptr = std::shared_ptr<std::vector<value>>;
using dict_ptr = std::shared_ptr<std::vector<std::pair<value, value>>>;

struct none {};
/// A Python callable or class named by module and name (GLOBAL); only ever compared, never run.
struct global {
  std::string module;
  std::string name;
};
/// A storage named by a persistent id: its bytes live outside the pickle.
struct storage_ref {
  std::string key;
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::int64_t numel = 0;
};
/// A tensor as torch._utils._rebuild_tensor_v2 describes it: a strided view of a storage.
struct tensor_ref {
  storage_ref storage;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> strides;
};

struct value {
  std::variant<none, bool, std::int64_t, double, std::string, tuple_ptr, list_ptr, dict_ptr, global,
               storage_ref, tensor_ref>
      v;
};

/// The Python name of what a value holds, for error messages.
inline std::string kind_name(const value& x) {
  struct visitor {
    std::string operator()(const none&) const { return "None"; }
    std::string operator()(bool) const { return "bool"; }
    std::string operator()(std::int64_t) const { return "int"; }
    std::string operator()(double) const { return "float"; }
    std::string operator()(const std::string&) const { return "str"; }
    std::string operator()(const tuple_ptr&) const { return "tuple"; }
    std::string operator()(const list_ptr&) const { return "list"; }
    std::string operator()(const dict_ptr&) const { return "dict"; }
    std::string operator()(const global& g) const { return fmt::format("{}.{}", g.module, g.name); }
    std::string operator()(const storage_ref&) const { return "storage"; }
    std::string operator()(const tensor_ref&) const { return "Tensor"; }
  };
  return std::visit(visitor{}, x.v);
}

/// Owns every container the pickles of one file build, so that they die without recursion.
///
/// Containers hold each other through shared pointers, so destroying the outermost one would
/// destroy the next one inside it, and so on: a damaged or hostile file of a million TUPLE1
/// opcodes (one byte each) nests a million tuples and overflows the stack on the way out, and a
/// list that holds itself would never be freed. The heap keeps a second owner of each container
/// and, when it dies, empties them one by one: every element that goes is then only a count
/// dropping on a container the heap still holds. Values taken out of a torch_file stay valid
/// while the file lives; its containers are empty after.
class heap {
 public:
  heap() = default;
  heap(const heap&) = delete;
  heap& operator=(const heap&) = delete;
  ~heap() {
    for (auto& s : sequences_) s->clear();
    for (auto& d : dicts_) d->clear();
  }

  std::shared_ptr<std::vector<value>> sequence(std::vector<value> items = {}) {
    sequences_.push_back(std::make_shared<std::vector<value>>(std::move(items)));
    return sequences_.back();
  }
  dict_ptr dict() {
    dicts_.push_back(std::make_shared<std::vector<std::pair<value, value>>>());
    return dicts_.back();
  }

 private:
  std::vector<std::shared_ptr<std::vector<value>>> sequences_;  // lists and tuples
  std::vector<dict_ptr> dicts_;
};

/// The element type a torch.<Name>Storage class stands for.
inline std::optional<c10::ScalarType> storage_dtype(const global& g) {
  if (g.module != "torch") return std::nullopt;
  static const std::map<std::string, c10::ScalarType, std::less<>> types = {
      {"DoubleStorage", c10::ScalarType::Double},   {"FloatStorage", c10::ScalarType::Float},
      {"HalfStorage", c10::ScalarType::Half},       {"BFloat16Storage", c10::ScalarType::BFloat16},
      {"LongStorage", c10::ScalarType::Long},       {"IntStorage", c10::ScalarType::Int},
      {"ShortStorage", c10::ScalarType::Short},     {"CharStorage", c10::ScalarType::Char},
      {"ByteStorage", c10::ScalarType::Byte},       {"BoolStorage", c10::ScalarType::Bool},
      {"ComplexFloatStorage", c10::ScalarType::ComplexFloat},
      {"ComplexDoubleStorage", c10::ScalarType::ComplexDouble},
      {"UntypedStorage", c10::ScalarType::Byte}};
  if (auto it = types.find(g.name); it != types.end()) return it->second;
  return std::nullopt;
}

/// Runs one pickle (up to its STOP opcode) from `bytes` starting at `pos`.
class unpickler {
 public:
  /// `legacy_ids`: persistent ids carry the legacy format's sixth field (view metadata).
  unpickler(const std::filesystem::path& file, std::shared_ptr<heap> containers, std::span<const char> bytes,
            std::size_t pos, bool legacy_ids)
      : heap_(std::move(containers)), file_(file), bytes_(bytes), pos_(pos), legacy_ids_(legacy_ids),
        copy_budget_(copy_budget_factor * bytes.size() + copy_budget_floor) {}

  /// Containers are shared, not copied, by DUP and the memo; the other values are copied, so a
  /// file could ask for one long string a million times. Copies may add up to this many times
  /// the pickle's size (plus the floor); a state_dict copies a few short strings per tensor.
  static constexpr std::size_t copy_budget_factor = 16;
  static constexpr std::size_t copy_budget_floor = std::size_t{64} << 20;

  value load() {
    for (;;) {
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(read(1)[0]);
      switch (op) {
        case 0x80: read(1); break;                      // PROTO
        case 0x95: read(8); break;                      // FRAME: a hint for buffering
        case '.': {                                     // STOP
          if (stack_.size() != 1 || !marks_.empty()) fail(at, "STOP with an unbalanced stack");
          return std::move(stack_.back());
        }
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(at); break;                          // POP
        case '1': pop_mark(at); break;                     // POP_MARK
        case '2': push(copy(at, top(at))); break;          // DUP
        case 'N': push(value{none{}}); break;
        case 0x88: push(value{true}); break;   // NEWTRUE
        case 0x89: push(value{false}); break;  // NEWFALSE
        case 'J': push(value{std::int64_t{little<std::int32_t>(read(4))}}); break;   // BININT
        case 'K': push(value{std::int64_t{little<std::uint8_t>(read(1))}}); break;   // BININT1
        case 'M': push(value{std::int64_t{little<std::uint16_t>(read(2))}}); break;  // BININT2
        case 0x8a: push(value{long_int(at, little<std::uint8_t>(read(1)))}); break;  // LONG1
        case 0x8b: push(value{long_int(at, size(at, little<std::int32_t>(read(4))))}); break;
        case 'I': push(text_int(at, line(at))); break;   // INT (protocol 0)
        case 'L': {                                      // LONG (protocol 0): "123L"
          std::string s = line(at);
          if (!s.empty() && s.back() == 'L') s.pop_back();
          push(text_int(at, s));
          break;
        }
        case 'G': push(value{big_endian_double(read(8))}); break;  // BINFLOAT
        case 'F': push(value{text_double(at, line(at))}); break;   // FLOAT
        case 'X': push(string(read(size(at, little<std::uint32_t>(read(4)))))); break;
        case 0x8c: push(string(read(little<std::uint8_t>(read(1))))); break;  // SHORT_BINUNICODE
        case 0x8d: push(string(read(size(at, little<std::uint64_t>(read(8)))))); break;
        case 'B': push(string(read(size(at, little<std::uint32_t>(read(4)))))); break;  // BINBYTES
        case 'C': push(string(read(little<std::uint8_t>(read(1))))); break;  // SHORT_BINBYTES
        case 0x8e: push(string(read(size(at, little<std::uint64_t>(read(8)))))); break;
        case 'T': push(string(read(size(at, little<std::int32_t>(read(4)))))); break;  // BINSTRING
        case 'U': push(string(read(little<std::uint8_t>(read(1))))); break;  // SHORT_BINSTRING
        case ')': push(value{tuple_ptr(heap_->sequence())}); break;                  // EMPTY_TUPLE
        case 't': push(value{tuple_ptr(heap_->sequence(pop_mark(at)))}); break;      // TUPLE
        case 0x85: push(tuple_of(at, 1)); break;  // TUPLE1
        case 0x86: push(tuple_of(at, 2)); break;  // TUPLE2
        case 0x87: push(tuple_of(at, 3)); break;  // TUPLE3
        case ']': push(value{heap_->sequence()}); break;              // EMPTY_LIST
        case 'l': push(value{heap_->sequence(pop_mark(at))}); break;  // LIST
        case 'a': {                                                            // APPEND
          value item = pop(at);
          as_list(at, top(at))->push_back(std::move(item));
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_mark(at);
          auto list = as_list(at, top(at));
          std::move(items.begin(), items.end(), std::back_inserter(*list));
          break;
        }
        case '}': push(value{heap_->dict()}); break;  // EMPTY_DICT
        case 'd': {                                    // DICT
          auto items = pop_mark(at);
          auto dict = heap_->dict();
          set_items(at, dict, items);
          push(value{dict});
          break;
        }
        case 's': {  // SETITEM
          value v = pop(at);
          value k = pop(at);
          std::vector<value> items{std::move(k), std::move(v)};
          set_items(at, as_dict(at, top(at)), items);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_mark(at);
          set_items(at, as_dict(at, top(at)), items);
          break;
        }
        case 'c': {  // GLOBAL
          std::string module = line(at);
          std::string name = line(at);
          push(value{global{std::move(module), std::move(name)}});
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          std::string name = as_string(at, pop(at), "STACK_GLOBAL name");
          std::string module = as_string(at, pop(at), "STACK_GLOBAL module");
          push(value{global{std::move(module), std::move(name)}});
          break;
        }
        case 'R':     // REDUCE
        case 0x81: {  // NEWOBJ
          value args = pop(at);
          value callable = pop(at);
          push(call(at, callable, args));
          break;
        }
        case 'b': {  // BUILD: state of an OrderedDict (its _metadata) or a tensor's Python attrs
          value state = pop(at);
          const value& object = top(at);
          if (!std::holds_alternative<dict_ptr>(object.v) &&
              !std::holds_alternative<tensor_ref>(object.v))
            fail(at, fmt::format("cannot set state on a {}", kind_name(object)));
          break;
        }
        case 'q': memo_[little<std::uint8_t>(read(1))] = copy(at, top(at)); break;    // BINPUT
        case 'r': memo_[little<std::uint32_t>(read(4))] = copy(at, top(at)); break;   // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = copy(at, top(at)); break;                    // MEMOIZE
        case 'p': memo_[text_index(at, line(at))] = copy(at, top(at)); break;         // PUT
        case 'h': push(memo(at, little<std::uint8_t>(read(1)))); break;     // BINGET
        case 'j': push(memo(at, little<std::uint32_t>(read(4)))); break;    // LONG_BINGET
        case 'g': push(memo(at, text_index(at, line(at)))); break;          // GET
        case 'Q': push(persistent_load(at, pop(at))); break;                // BINPERSID
        default:
          fail(at, fmt::format("unsupported pickle opcode 0x{:02x}", static_cast<unsigned>(op)));
      }
    }
  }

  /// Byte offset just past the STOP opcode once load() returned.
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& why) const {
    throw input_error(file_, fmt::format("corrupt or unsupported pickle at byte {}: {}", at, why));
  }

  std::span<const char> read(std::size_t n) {
    if (n > bytes_.size() - pos_)
      fail(pos_, fmt::format("needs {} more bytes, the data ends after {}", n, bytes_.size() - pos_));
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  std::string line(std::size_t at) {
    const auto rest = bytes_.subspan(pos_);
    const auto nl = std::find(rest.begin(), rest.end(), '\n');
    if (nl == rest.end()) fail(at, "unterminated text argument");
    std::string s(rest.begin(), nl);
    pos_ += s.size() + 1;
    return s;
  }

  template <class T>
  static T little(std::span<const char> b) {
    using U = std::make_unsigned_t<T>;
    U u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      u |= static_cast<U>(static_cast<U>(static_cast<unsigned char>(b[i])) << (8 * i));
    return static_cast<T>(u);
  }

  static double big_endian_double(std::span<const char> b) {
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < 8; ++i) u = (u << 8) | static_cast<unsigned char>(b[i]);
    return std::bit_cast<double>(u);
  }

  template <class T>
  std::size_t size(std::size_t at, T n) const {
    if constexpr (std::is_signed_v<T>)
      if (n < 0) fail(at, "negative length");
    return static_cast<std::size_t>(n);
  }

  std::int64_t long_int(std::size_t at, std::size_t n) {
    auto b = read(n);
    if (n == 0) return 0;
    if (n > 8) fail(at, fmt::format("integer of {} bytes does not fit 64 bits", n));
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < n; ++i)
      u |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    if (n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) u |= ~std::uint64_t{0} << (8 * n);
    return static_cast<std::int64_t>(u);
  }

  value text_int(std::size_t at, const std::string& s) {
    if (s == "00") return value{false};
    if (s == "01") return value{true};
    try {
      std::size_t used = 0;
      const long long v = std::stoll(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      return value{static_cast<std::int64_t>(v)};
    } catch (const std::exception&) {
      fail(at, fmt::format("'{}' is not an integer", s));
    }
  }

  double text_double(std::size_t at, const std::string& s) {
    try {
      std::size_t used = 0;
      const double v = std::stod(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      return v;
    } catch (const std::exception&) {
      fail(at, fmt::format("'{}' is not a number", s));
    }
  }

  std::size_t text_index(std::size_t at, const std::string& s) {
    const value v = text_int(at, s);
    const auto* i = std::get_if<std::int64_t>(&v.v);
    if (!i || *i < 0) fail(at, fmt::format("bad memo index '{}'", s));
    return static_cast<std::size_t>(*i);
  }

  static value string(std::span<const char> b) { return value{std::string(b.begin(), b.end())}; }

  void push(value v) { stack_.push_back(std::move(v)); }

  value pop(std::size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      fail(at, "stack underflow");
    value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }

  const value& top(std::size_t at) const {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      fail(at, "stack underflow");
    return stack_.back();
  }

  std::vector<value> pop_mark(std::size_t at) {
    if (marks_.empty()) fail(at, "no MARK to pop to");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<value> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                             std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  value tuple_of(std::size_t at, std::size_t n) {
    std::vector<value> items(n);
    for (std::size_t i = n; i-- > 0;) items[i] = pop(at);
    return value{tuple_ptr(heap_->sequence(std::move(items)))};
  }

  value memo(std::size_t at, std::size_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail(at, fmt::format("memo entry {} was never stored", index));
    return copy(at, it->second);
  }

  /// The bytes a copy of `v` allocates (containers are shared, so they cost nothing).
  static std::size_t copy_cost(const value& v) {
    if (const auto* s = std::get_if<std::string>(&v.v)) return s->size();
    if (const auto* g = std::get_if<global>(&v.v)) return g->module.size() + g->name.size();
    if (const auto* s = std::get_if<storage_ref>(&v.v)) return s->key.size();
    if (const auto* t = std::get_if<tensor_ref>(&v.v))
      return t->storage.key.size() + sizeof(std::int64_t) * (t->sizes.size() + t->strides.size());
    return 0;
  }

  void charge(std::size_t at, std::size_t bytes) {
    if (bytes > copy_budget_)
      fail(at, fmt::format("copies more than {} times its own size in values (the same long string or "
                           "tuple read from the memo over and over)", copy_budget_factor));
    copy_budget_ -= bytes;
  }

  value copy(std::size_t at, const value& v) {
    charge(at, copy_cost(v));
    return v;
  }

  list_ptr as_list(std::size_t at, const value& v) const {
    if (const auto* l = std::get_if<list_ptr>(&v.v)) return *l;
    fail(at, fmt::format("expected a list, found {}", kind_name(v)));
  }

  dict_ptr as_dict(std::size_t at, const value& v) const {
    if (const auto* d = std::get_if<dict_ptr>(&v.v)) return *d;
    fail(at, fmt::format("expected a dict, found {}", kind_name(v)));
  }

  std::string as_string(std::size_t at, const value& v, std::string_view what) {
    if (const auto* s = std::get_if<std::string>(&v.v)) {
      charge(at, s->size());
      return *s;
    }
    fail(at, fmt::format("{}: expected a str, found {}", what, kind_name(v)));
  }

  std::int64_t as_int(std::size_t at, const value& v, std::string_view what) const {
    if (const auto* i = std::get_if<std::int64_t>(&v.v)) return *i;
    fail(at, fmt::format("{}: expected an int, found {}", what, kind_name(v)));
  }

  const std::vector<value>& as_tuple(std::size_t at, const value& v, std::string_view what) const {
    if (const auto* t = std::get_if<tuple_ptr>(&v.v)) return **t;
    fail(at, fmt::format("{}: expected a tuple, found {}", what, kind_name(v)));
  }

  std::vector<std::int64_t> int_tuple(std::size_t at, const value& v, std::string_view what) {
    const auto& items = as_tuple(at, v, what);
    charge(at, sizeof(std::int64_t) * items.size());
    std::vector<std::int64_t> out;
    for (const auto& x : items) out.push_back(as_int(at, x, what));
    return out;
  }

  void set_items(std::size_t at, const dict_ptr& dict, std::vector<value>& items) {
    if (items.size() % 2 != 0) fail(at, "odd number of items for a dict");
    // Python replaces an existing key; keys in state dicts are str, so those are looked up (in
    // an index per dict, so that a dict of n keys builds in O(n), not O(n^2)).
    auto& index = str_keys_[dict.get()];
    for (std::size_t i = 0; i < items.size(); i += 2) {
      if (const auto* k = std::get_if<std::string>(&items[i].v)) {
        const auto [it, fresh] = index.try_emplace(*k, dict->size());
        if (!fresh) {
          (*dict)[it->second].second = std::move(items[i + 1]);
          continue;
        }
      }
      dict->emplace_back(std::move(items[i]), std::move(items[i + 1]));
    }
  }

  // The only callables a state_dict needs; anything else is refused, never executed.
  value call(std::size_t at, const value& callable, const value& args_value) {
    const auto* g = std::get_if<global>(&callable.v);
    if (!g) fail(at, fmt::format("cannot call a {}", kind_name(callable)));
    const auto& args = as_tuple(at, args_value, fmt::format("arguments of {}.{}", g->module, g->name));
    auto arg = [&](std::size_t i) -> const value& {
      if (i >= args.size())
        fail(at, fmt::format("{}.{} needs argument {}, got {}", g->module, g->name, i + 1, args.size()));
      return args[i];
    };
    if (g->module == "collections" && g->name == "OrderedDict") {
      if (!args.empty()) fail(at, "OrderedDict built from arguments");
      return value{heap_->dict()};
    }
    if (g->module == "torch._utils" && (g->name == "_rebuild_tensor_v2" || g->name == "_rebuild_tensor")) {
      const auto* storage = std::get_if<storage_ref>(&arg(0).v);
      if (!storage) fail(at, fmt::format("tensor without a storage ({})", kind_name(arg(0))));
      charge(at, storage->key.size());
      tensor_ref t{*storage, as_int(at, arg(1), "storage offset"), int_tuple(at, arg(2), "tensor size"),
                   int_tuple(at, arg(3), "tensor stride")};
      if (t.sizes.size() != t.strides.size()) fail(at, "tensor size and stride differ in length");
      return value{std::move(t)};
    }
    if (g->module == "torch._utils" &&
        (g->name == "_rebuild_parameter" || g->name == "_rebuild_parameter_with_state")) {
      if (!std::holds_alternative<tensor_ref>(arg(0).v)) fail(at, "parameter without a tensor");
      return copy(at, arg(0));
    }
    // LibTorch's pickler tags typed containers; the tag changes nothing about the value.
    if (g->module == "torch.jit._pickle" &&
        (g->name == "restore_type_tag" || g->name == "build_intlist" ||
         g->name == "build_doublelist" || g->name == "build_boollist" || g->name == "build_tensorlist"))
      return copy(at, arg(0));
    throw input_error(file_, fmt::format("holds a Python object of type {}.{}, which tpt does not read: "
                                         "expected a state_dict (a dict of tensors) saved with torch.save",
                                         g->module, g->name));
  }

  value persistent_load(std::size_t at, const value& pid_value) {
    const auto& pid = as_tuple(at, pid_value, "persistent id");
    if (pid.size() < 5 || as_string(at, pid[0], "persistent id kind") != "storage")
      fail(at, "persistent id is not a ('storage', type, key, location, size) tuple");
    const auto* type = std::get_if<global>(&pid[1].v);
    const auto dtype = type ? storage_dtype(*type) : std::nullopt;
    if (!dtype)
      throw input_error(file_, fmt::format("holds a storage of type {}, which tpt does not read",
                                           kind_name(pid[1])));
    storage_ref s{as_string(at, pid[2], "storage key"), *dtype, as_int(at, pid[4], "storage size")};
    if (s.numel < 0) fail(at, "negative storage size");
    if (legacy_ids_ && pid.size() > 5 && !std::holds_alternative<none>(pid[5].v))
      throw input_error(file_, "holds storage views (torch.save before PyTorch 0.4); load and re-save "
                               "it with a current PyTorch");
    return value{std::move(s)};
  }

  // First, so that it outlives the stack and the memo: what they hold dies without recursion.
  std::shared_ptr<heap> heap_;
  const std::filesystem::path& file_;
  std::span<const char> bytes_;
  std::size_t pos_;
  bool legacy_ids_;
  std::size_t copy_budget_;
  std::vector<value> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::size_t, value> memo_;
  std::unordered_map<const void*, std::unordered_map<std::string, std::size_t>> str_keys_;
};

/// A loaded torch.save file: the unpickled object and the storages its tensors view.
struct torch_file {
  std::shared_ptr<heap> containers;  // owns root's containers (first: it dies last)
  value root;
  std::map<std::string, torch::Tensor> storages;

  /// The tensor a tensor_ref describes, checked to stay inside its storage.
  [[nodiscard]] torch::Tensor tensor(const std::filesystem::path& file, const tensor_ref& t,
                                     std::string_view name) const {
    auto it = storages.find(t.storage.key);
    if (it == storages.end())
      throw input_error(file, fmt::format("tensor '{}': storage '{}' is missing", name, t.storage.key));
    const torch::Tensor& storage = it->second;
    const std::int64_t numel = storage.numel();
    const auto outside = [&] {
      return input_error(file, fmt::format("tensor '{}' of size [{}], stride [{}], offset {} reaches past its storage "
                                           "of {} elements", name, fmt::join(t.sizes, ", "), fmt::join(t.strides, ", "),
                                           t.offset, numel));
    };
    bool empty = false;
    for (std::size_t d = 0; d < t.sizes.size(); ++d) {
      if (t.sizes[d] < 0 || t.strides[d] < 0)
        throw input_error(file, fmt::format("tensor '{}': negative size or stride", name));
      empty = empty || t.sizes[d] == 0;
    }
    if (t.offset < 0 || t.offset > numel) throw outside();
    if (!empty) {
      // The last element's index, built so that it never overflows: each step must fit in what
      // is left of the storage, or the tensor reaches past it (values from a damaged or hostile
      // file can be anything up to 2^63).
      std::int64_t last = t.offset;
      for (std::size_t d = 0; d < t.sizes.size(); ++d) {
        const std::int64_t steps = t.sizes[d] - 1;
        if (steps > 0 && t.strides[d] > 0 && steps > (numel - 1 - last) / t.strides[d]) throw outside();
        last += steps * t.strides[d];
      }
      if (last >= numel) throw outside();
    }
    return storage.as_strided(t.sizes, t.strides, t.offset);
  }
};

/// Containers nest a few levels in a state_dict; a list that holds itself (DUP then APPEND) or a
/// tower of nested lists from a damaged file would otherwise recurse until the stack overflows.
inline constexpr int max_pickle_depth = 256;

inline void collect_storages(const std::filesystem::path& file, const value& v, std::map<std::string, storage_ref>& out,
                             int depth = 0) {
  if (depth > max_pickle_depth)
    throw input_error(file, fmt::format("the pickle nests containers more than {} deep (or a container holds itself)",
                                        max_pickle_depth));
  const auto each = [&](const value& x) { collect_storages(file, x, out, depth + 1); };
  if (const auto* t = std::get_if<tensor_ref>(&v.v)) out.emplace(t->storage.key, t->storage);
  else if (const auto* s = std::get_if<storage_ref>(&v.v)) out.emplace(s->key, *s);
  else if (const auto* tu = std::get_if<tuple_ptr>(&v.v)) for (const auto& x : **tu) each(x);
  else if (const auto* l = std::get_if<list_ptr>(&v.v)) for (const auto& x : **l) each(x);
  else if (const auto* d = std::get_if<dict_ptr>(&v.v))
    for (const auto& [k, x] : **d) {
      each(k);
      each(x);
    }
}

inline torch::Tensor storage_from_bytes(const std::filesystem::path& file, const storage_ref& s,
                                        const void* data, std::size_t available) {
  // Checked before anything is allocated: a damaged or crafted header can claim any size.
  const auto element = static_cast<std::size_t>(c10::elementSize(s.dtype));
  const auto numel = static_cast<std::size_t>(s.numel);
  if (s.numel < 0 || (element != 0 && numel > available / element))
    throw input_error(file, fmt::format("storage '{}' holds {} bytes, {} elements of {} bytes expected (file "
                                        "truncated or damaged?)", s.key, available, s.numel, element));
  torch::Tensor t = torch::empty({s.numel}, torch::TensorOptions().dtype(s.dtype));
  const std::size_t need = numel * element;
  if (need) std::memcpy(t.data_ptr(), data, need);
  return t;
}

inline constexpr std::array<unsigned char, 4> zip_magic = {'P', 'K', 0x03, 0x04};
// pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2): the legacy format's first pickle.
inline constexpr std::array<unsigned char, 15> legacy_magic = {
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

inline std::vector<char> read_bytes(const std::filesystem::path& file, std::size_t limit) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw input_error(file, "cannot open for reading");
  std::vector<char> bytes(limit);
  in.read(bytes.data(), static_cast<std::streamsize>(limit));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

template <std::size_t N>
bool starts_with(const std::vector<char>& bytes, const std::array<unsigned char, N>& magic) {
  return bytes.size() >= N && std::equal(magic.begin(), magic.end(), bytes.begin(),
                                         [](unsigned char m, char b) { return m == static_cast<unsigned char>(b); });
}

inline torch_file load_zip(const std::filesystem::path& file) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(file.string());
    if (reader.hasRecord("constants.pkl")) {
      // The trainer's own checkpoint (two_phase::save_checkpoint) is a LibTorch archive too,
      // which stores its "tpt.state" attribute in data.pkl.
      if (reader.hasRecord("data.pkl")) {
        auto [ptr, n] = reader.getRecord("data.pkl");
        if (std::string_view(static_cast<const char*>(ptr.get()), n).find("tpt.state") != std::string_view::npos)
          throw input_error(file, "is a trainer checkpoint (for resuming a run), not model weights: use the "
                                  "model.tpt written beside it");
      }
      throw input_error(file, "is a TorchScript module (torch.jit.save), not a state_dict: save "
                              "model.state_dict() with torch.save instead");
    }
    if (!reader.hasRecord("data.pkl"))
      throw input_error(file, "is a zip archive without data.pkl: not written by torch.save");
    if (reader.hasRecord("byteorder")) {
      auto [ptr, n] = reader.getRecord("byteorder");
      if (std::string_view(static_cast<const char*>(ptr.get()), n) != "little")
        throw input_error(file, "was saved on a big-endian machine, which tpt does not read");
    }
    auto [pickle_ptr, pickle_size] = reader.getRecord("data.pkl");
    std::span<const char> pickle(static_cast<const char*>(pickle_ptr.get()), pickle_size);
    auto containers = std::make_shared<heap>();
    unpickler u(file, containers, pickle, 0, /*legacy_ids=*/false);
    torch_file out{containers, u.load(), {}};
    std::map<std::string, storage_ref> refs;
    collect_storages(file, out.root, refs);
    for (const auto& [key, ref] : refs) {
      const std::string record = "data/" + key;
      if (!reader.hasRecord(record))
        throw input_error(file, fmt::format("storage '{}' is missing from the archive", key));
      auto [ptr, n] = reader.getRecord(record);
      out.storages.emplace(key, storage_from_bytes(file, ref, ptr.get(), n));
    }
    return out;
  } catch (const c10::Error& e) {
    throw input_error(file, fmt::format("not a readable PyTorch zip archive ({})",
                                        e.what_without_backtrace()));
  }
}

inline torch_file load_legacy(const std::filesystem::path& file, const std::vector<char>& bytes) {
  std::span<const char> all(bytes);
  std::size_t pos = legacy_magic.size();
  auto containers = std::make_shared<heap>();  // before the values below, which it outlives
  auto next = [&](bool legacy_ids) {
    unpickler u(file, containers, all, pos, legacy_ids);
    value v = u.load();
    pos = u.position();
    return v;
  };
  const value protocol = next(false);
  if (const auto* p = std::get_if<std::int64_t>(&protocol.v); !p || *p != 1001)
    throw input_error(file, "legacy torch.save file with an unknown protocol version");
  const value sys_info = next(false);
  if (const auto* d = std::get_if<dict_ptr>(&sys_info.v)) {
    for (const auto& [k, v] : **d) {
      const auto* key = std::get_if<std::string>(&k.v);
      const auto* flag = std::get_if<bool>(&v.v);
      if (key && *key == "little_endian" && flag && !*flag)
        throw input_error(file, "was saved on a big-endian machine, which tpt does not read");
    }
  }
  torch_file out{containers, next(true), {}};
  std::map<std::string, storage_ref> refs;
  collect_storages(file, out.root, refs);
  const value keys = next(false);
  const auto* key_list = std::get_if<list_ptr>(&keys.v);
  if (!key_list) throw input_error(file, "legacy torch.save file without its list of storages");
  for (const auto& k : **key_list) {
    const auto* key = std::get_if<std::string>(&k.v);
    if (!key) throw input_error(file, "legacy torch.save file: storage key is not a str");
    auto ref = refs.find(*key);
    if (ref == refs.end()) throw input_error(file, fmt::format("storage '{}' is never used", *key));
    if (all.size() - pos < 8) throw input_error(file, "ends inside its storages (file truncated?)");
    std::int64_t numel = 0;
    for (int i = 7; i >= 0; --i)
      numel = (numel << 8) | static_cast<unsigned char>(all[pos + static_cast<std::size_t>(i)]);
    pos += 8;
    if (numel != ref->second.numel)
      throw input_error(file, fmt::format("storage '{}' holds {} elements, {} expected", *key, numel,
                                          ref->second.numel));
    torch::Tensor t = storage_from_bytes(file, ref->second, all.data() + pos, all.size() - pos);
    pos += static_cast<std::size_t>(t.numel()) * t.element_size();
    out.storages.emplace(*key, std::move(t));
  }
  for (const auto& [key, ref] : refs)
    if (!out.storages.count(key))
      throw input_error(file, fmt::format("storage '{}' is missing", key));
  return out;
}

/// Read a file written by torch.save (either format) or torch::pickle_save.
inline torch_file load_torch_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw input_error(file, "no such file");
  if (std::filesystem::is_directory(file, ec)) throw input_error(file, "is a folder, not a file");
  const auto head = read_bytes(file, legacy_magic.size());
  if (starts_with(head, zip_magic)) return load_zip(file);
  if (starts_with(head, legacy_magic)) {
    const auto bytes = read_bytes(file, static_cast<std::size_t>(std::filesystem::file_size(file)));
    return load_legacy(file, bytes);
  }
  if (head.empty()) throw input_error(file, "is empty");
  throw input_error(file, "is not a file written by torch.save (neither a PyTorch zip archive nor "
                          "the legacy format)");
}

/// The storage class torch.save names for a dtype (the inverse of storage_dtype).
inline std::string storage_class(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Double: return "DoubleStorage";
    case c10::ScalarType::Float: return "FloatStorage";
    case c10::ScalarType::Half: return "HalfStorage";
    case c10::ScalarType::BFloat16: return "BFloat16Storage";
    case c10::ScalarType::Long: return "LongStorage";
    case c10::ScalarType::Int: return "IntStorage";
    case c10::ScalarType::Short: return "ShortStorage";
    case c10::ScalarType::Char: return "CharStorage";
    case c10::ScalarType::Byte: return "ByteStorage";
    case c10::ScalarType::Bool: return "BoolStorage";
    case c10::ScalarType::ComplexFloat: return "ComplexFloatStorage";
    case c10::ScalarType::ComplexDouble: return "ComplexDoubleStorage";
    default: throw config_error("dtype", fmt::format("tpt cannot save tensors of type {}", c10::toString(dtype)));
  }
}

/// Writes a pickle the way Python's torch.save does (protocol 2, tensors through
/// torch._utils._rebuild_tensor_v2, state_dicts as collections.OrderedDict), so that
/// torch.load(path, weights_only=True) reads it in every PyTorch since 1.6. LibTorch's
/// torch::pickle_save would tag containers with torch.jit._pickle.restore_type_tag, a global
/// that weights-only loading (the default since PyTorch 2.6) refuses.
class writer {
 public:
  writer() { out_ += "\x80\x02"; }

  /// A dict follows: begin, then key and value calls in turn, then end_dict().
  void begin_dict() { out_ += "}("; }
  void begin_ordered_dict() {
    global("collections", "OrderedDict");
    out_ += ")R(";
  }
  void end_dict() { out_ += 'u'; }

  void string(std::string_view s) {
    out_ += 'X';
    little(static_cast<std::uint32_t>(s.size()), 4);
    out_ += s;
  }

  void integer(std::int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      little(static_cast<std::uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      out_ += 'M';
      little(static_cast<std::uint64_t>(v), 2);
    } else if (v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max()) {
      out_ += 'J';
      little(static_cast<std::uint64_t>(static_cast<std::uint32_t>(static_cast<std::int32_t>(v))), 4);
    } else {
      out_ += "\x8a\x08";  // LONG1, 8 bytes two's complement
      little(static_cast<std::uint64_t>(v), 8);
    }
  }

  /// A tensor as a contiguous CPU copy with a storage of its own (record data/<n>).
  void tensor(const torch::Tensor& t) {
    // clone(): a storage exactly as large as the tensor, whatever view or device it came from.
    torch::Tensor data = t.detach().to(torch::kCPU).contiguous().clone();
    const std::string key = std::to_string(storages_.size());
    global("torch._utils", "_rebuild_tensor_v2");
    out_ += "((";
    string("storage");
    global("torch", storage_class(data.scalar_type()));
    string(key);
    string("cpu");
    integer(data.numel());
    out_ += "tQ";  // TUPLE, BINPERSID
    integer(0);
    int_tuple(data.sizes());
    int_tuple(data.strides());
    out_ += '\x89';  // requires_grad=False
    global("collections", "OrderedDict");
    out_ += ")Rt";  // backward hooks: OrderedDict(); end of the argument tuple
    out_ += 'R';
    storages_.emplace_back(key, std::move(data));
  }

  /// The finished pickle and the storages its tensors refer to.
  std::string finish() {
    out_ += '.';
    return std::move(out_);
  }
  [[nodiscard]] const std::vector<std::pair<std::string, torch::Tensor>>& storages() const noexcept {
    return storages_;
  }

 private:
  void global(std::string_view module, std::string_view name) {
    out_ += 'c';
    out_ += module;
    out_ += '\n';
    out_ += name;
    out_ += '\n';
  }
  void int_tuple(c10::IntArrayRef values) {
    out_ += '(';
    for (auto v : values) integer(v);
    out_ += 't';
  }
  void little(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }

  std::string out_;
  std::vector<std::pair<std::string, torch::Tensor>> storages_;
};

/// Write a zip archive as torch.save does: data.pkl, data/<key> per storage, byteorder, version.
inline void write_torch_archive(const std::filesystem::path& file, std::ostream& out, const std::string& pickle,
                                const std::vector<std::pair<std::string, torch::Tensor>>& storages) {
  try {
    // The writer callback always reports success: a short count makes writeRecord throw, and the
    // writer's destructor then writes again and throws a second time, which calls
    // std::terminate (a full disk would kill the training run). The stream remembers the failure,
    // and it is reported below, and by write_atomically, which keeps the old file.
    caffe2::serialize::PyTorchStreamWriter archive([&](const void* data, std::size_t n) -> std::size_t {
      if (out) out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
      return n;
    });
    archive.writeRecord("data.pkl", pickle.data(), pickle.size());
    archive.writeRecord("byteorder", "little", 6);
    for (const auto& [key, t] : storages)
      archive.writeRecord("data/" + key, t.data_ptr(), static_cast<std::size_t>(t.numel()) * t.element_size());
    archive.writeEndOfFile();
    if (!out) throw input_error(file, "writing failed (disk full?)");
  } catch (const c10::Error& e) {
    throw input_error(file, fmt::format("writing failed ({})", e.what_without_backtrace()));
  }
}

}  // namespace tpt::detail::pickle
