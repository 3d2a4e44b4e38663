#include "json.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace jina3_bench {

namespace {

void write_string(std::ostream& out, const std::string& s) {
  out << '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out << "\\\""; break;
      case '\\': out << "\\\\"; break;
      case '\n': out << "\\n"; break;
      case '\r': out << "\\r"; break;
      case '\t': out << "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out << buf;
        } else {
          out << static_cast<char>(c);  // UTF-8 passes through unchanged
        }
    }
  }
  out << '"';
}

void newline(std::ostream& out, int indent) {
  out << '\n';
  for (int i = 0; i < indent; ++i) out << "  ";
}

}  // namespace

Json& Json::push(Json value) {
  if (kind_ != Kind::Array) throw std::logic_error("Json::push on a non-array");
  items_.push_back(std::move(value));
  return *this;
}

Json& Json::set(const std::string& key, Json value) {
  if (kind_ != Kind::Object) throw std::logic_error("Json::set on a non-object");
  for (auto& member : members_) {
    if (member.first == key) {
      member.second = std::move(value);
      return *this;
    }
  }
  members_.emplace_back(key, std::move(value));
  return *this;
}

void Json::write(std::ostream& out, int indent) const {
  switch (kind_) {
    case Kind::Null: out << "null"; break;
    case Kind::Bool: out << (bool_ ? "true" : "false"); break;
    case Kind::Int: out << int_; break;
    case Kind::Number: {
      // JSON has no NaN or infinity: a measurement that could not be taken is null.
      if (!std::isfinite(number_)) {
        out << "null";
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", number_);
        out << buf;
      }
      break;
    }
    case Kind::String: write_string(out, string_); break;
    case Kind::Array: {
      // Arrays of scalars stay on one line (timings, token counts); nested ones get a line each.
      bool scalars = true;
      for (const auto& item : items_) scalars = scalars && item.kind_ != Kind::Array && item.kind_ != Kind::Object;
      out << '[';
      for (std::size_t i = 0; i < items_.size(); ++i) {
        if (i) out << (scalars ? ", " : ",");
        if (!scalars) newline(out, indent + 1);
        items_[i].write(out, indent + 1);
      }
      if (!scalars && !items_.empty()) newline(out, indent);
      out << ']';
      break;
    }
    case Kind::Object: {
      out << '{';
      for (std::size_t i = 0; i < members_.size(); ++i) {
        if (i) out << ',';
        newline(out, indent + 1);
        write_string(out, members_[i].first);
        out << ": ";
        members_[i].second.write(out, indent + 1);
      }
      if (!members_.empty()) newline(out, indent);
      out << '}';
      break;
    }
  }
}

}  // namespace jina3_bench
