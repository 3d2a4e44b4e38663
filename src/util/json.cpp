// nlohmann-json does the lexing and parsing (and rejects comments, trailing commas, invalid UTF-8,
// lone surrogates and trailing bytes itself); its parser callback adds what it lets through:
// duplicate keys (it would keep the last one) and unbounded nesting.
#include "util/json.hpp"

#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

namespace jina3::json {
namespace {

// One open object or array, for duplicate detection and for naming where a duplicate is.
struct Frame {
  bool object = false;
  std::unordered_set<std::string> keys;  // objects: keys seen so far
  std::string key;                       // objects: the member being read
  std::size_t index = 0;                 // arrays: the element being read
};

std::string path_to(const std::vector<Frame>& frames, const std::string& key) {
  std::string path;
  // Each enclosing container contributes the member or element being read in it.
  for (std::size_t i = 0; i + 1 < frames.size(); ++i) {
    if (frames[i].object) {
      if (!path.empty()) path += '.';
      path += frames[i].key;
    } else {
      path += fmt::format("[{}]", frames[i].index);
    }
  }
  if (!path.empty()) path += '.';
  return path + key;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the rest reads well alone.
std::string without_exception_id(const char* what) {
  std::string_view text(what);
  if (!text.empty() && text.front() == '[') {
    std::size_t end = text.find("] ");
    if (end != std::string_view::npos) text.remove_prefix(end + 2);
  }
  return std::string(text);
}

}  // namespace

Value parse(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") throw ParseError("byte-order mark at line 1, column 1 (not allowed in JSON text)");
  std::vector<Frame> frames;
  auto next_element = [&frames] {
    if (!frames.empty() && !frames.back().object) ++frames.back().index;
  };
  auto check = [&](int /*depth*/, Value::parse_event_t event, Value& parsed) {
    switch (event) {
      case Value::parse_event_t::object_start:
      case Value::parse_event_t::array_start:
        if (frames.size() >= static_cast<std::size_t>(kMaxDepth)) {
          throw ParseError(fmt::format("nesting deeper than {} levels", kMaxDepth));
        }
        frames.push_back(Frame{event == Value::parse_event_t::object_start, {}, {}, 0});
        break;
      case Value::parse_event_t::key: {
        Frame& frame = frames.back();
        frame.key = parsed.get_ref<const std::string&>();
        if (!frame.keys.insert(frame.key).second) {
          throw ParseError(fmt::format("duplicate key \"{}\"", path_to(frames, frame.key)));
        }
        break;
      }
      case Value::parse_event_t::object_end:
      case Value::parse_event_t::array_end:
        frames.pop_back();
        next_element();
        break;
      case Value::parse_event_t::value:
        next_element();
        break;
    }
    return true;  // keep every value
  };
  try {
    return Value::parse(text.begin(), text.end(), check, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Value::exception& e) {
    throw ParseError(without_exception_id(e.what()));
  }
}

}  // namespace jina3::json
