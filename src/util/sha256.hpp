// SHA-256 for checking package files against their manifest, by OpenSSL's libcrypto (EVP), which
// picks the CPU's fastest implementation (SHA extensions, AVX2, ...) itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace jina3 {

// An incremental hash. Throws std::runtime_error if libcrypto fails (out of memory, or a FIPS
// configuration without SHA-256).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // The digest as 64 lower-case hex digits. The object must not be updated afterwards.
  std::string hex_digest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// Hashes a whole string.
std::string sha256_hex(std::string_view data);

// Hashes a file in chunks; also reports its size in bytes. Throws std::runtime_error if the file
// cannot be read (callers turn that into the right jina3 error).
std::string sha256_file_hex(const std::string& path, std::uint64_t* size = nullptr);

}  // namespace jina3
