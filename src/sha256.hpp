// SHA-256 (FIPS 180-4), incremental, for checking package files against their manifest.
// Uses the x86 SHA extensions when the CPU has them (several times faster on multi-gigabyte
// packages), else portable code; both give the same digests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jina3 {

enum class Sha256Kernel { Auto, Portable, X86ShaExtensions };

// True when this CPU (and build) can use Sha256Kernel::X86ShaExtensions.
bool sha256_x86_extensions_available() noexcept;

class Sha256 {
 public:
  // Auto picks the fastest available kernel; asking for an unavailable one falls back to Portable.
  explicit Sha256(Sha256Kernel kernel = Sha256Kernel::Auto);
  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // The digest as 64 lower-case hex digits. The object must not be updated afterwards.
  std::string hex_digest();
  Sha256Kernel kernel() const noexcept { return kernel_; }

 private:
  void compress(const std::uint8_t* blocks, std::size_t count);

  Sha256Kernel kernel_;
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// Hashes a whole string.
std::string sha256_hex(std::string_view data, Sha256Kernel kernel = Sha256Kernel::Auto);

// Hashes a file in chunks; also reports its size in bytes. Throws std::runtime_error if the file
// cannot be read (callers turn that into the right jina3 error).
std::string sha256_file_hex(const std::string& path, std::uint64_t* size = nullptr);

}  // namespace jina3
