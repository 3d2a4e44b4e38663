// The library's runtime version, fixed when the library is built.
#include <jina3/version.hpp>

namespace jina3 {

const char* version() noexcept { return JINA3_VERSION_STRING; }

}  // namespace jina3
