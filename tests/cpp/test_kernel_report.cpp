// The CPU features (util/cpu_info) with their JINA3_MAX_CPU_ISA cap, the kernel report built from
// them (util/kernel_report), and Encoder::kernels() of loaded packages. [unit] needs no data;
// [kernel_report] loads the test packages; the hidden [.kernel_report_capped] and
// [.kernel_report_bad_cap] run in their own processes with JINA3_MAX_CPU_ISA set (ctest
// cpp.kernel_report_capped, cpp.kernel_report_bad_cap), since a process reads it once.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <jina3/jina3.hpp>

#include "support.hpp"
#include "util/cpu_info.hpp"
#include "util/kernel_report.hpp"

using namespace jina3;
using jina3::util::CpuFeatures;

namespace {

// Every feature of the avx512_core_amx level (a Sapphire Rapids).
CpuFeatures every_feature() {
  CpuFeatures f;
  f.avx2 = f.avx512 = f.avx512_vnni = f.avx512_bf16 = f.amx_bf16 = f.amx_int8 = f.avx2_vnni = true;
  f.isa = "avx512_core_amx";
  return f;
}

// What this machine has under a cap of avx512_core: what cpp.kernel_report_capped expects.
CpuFeatures capped_here() { return util::cap_cpu_features(util::detect_cpu_features(), "avx512_core"); }

}  // namespace

TEST_CASE("capping the CPU features drops every feature above the cap", "[unit][kernel_report]") {
  const CpuFeatures all = every_feature();
  CHECK(util::cap_cpu_features(all, "").isa == "avx512_core_amx");  // no cap

  const CpuFeatures bf16 = util::cap_cpu_features(all, "avx512_core_bf16");
  CHECK(bf16.isa == "avx512_core_bf16");
  CHECK(bf16.avx512_bf16);
  CHECK_FALSE(bf16.amx_bf16);
  CHECK_FALSE(bf16.amx_int8);
  CHECK(bf16.bf16_native());

  const CpuFeatures core = util::cap_cpu_features(all, "AVX512_CORE");  // any case, as oneDNN
  CHECK(core.isa == "avx512_core");
  CHECK(core.avx512);
  CHECK(core.avx2);
  CHECK(core.avx2_vnni);  // below avx512_core in the order
  CHECK_FALSE(core.avx512_vnni);
  CHECK_FALSE(core.avx512_bf16);
  CHECK_FALSE(core.bf16_native());

  const CpuFeatures avx2 = util::cap_cpu_features(all, "avx2");
  CHECK(avx2.isa == "avx2");
  CHECK(avx2.avx2);
  CHECK_FALSE(avx2.avx2_vnni);
  CHECK_FALSE(avx2.avx512);

  CHECK(util::cap_cpu_features(all, "avx2_vnni").isa == "avx2_vnni");
  CHECK(util::cap_cpu_features(all, "avx512_core_vnni").isa == "avx512_core_vnni");
  CHECK(util::cap_cpu_features(all, "sse41").isa == "sse41");
  const CpuFeatures none = util::cap_cpu_features(all, "none");
  CHECK(none.isa == "none");
  CHECK_FALSE(none.avx2);

  // A cap above the CPU changes nothing; the isa is recomputed from what is left, never the cap.
  CpuFeatures old_cpu;
  old_cpu.avx2 = true;
  old_cpu.isa = "avx2";
  CHECK(util::cap_cpu_features(old_cpu, "avx512_core_amx").isa == "avx2");
  CHECK(util::cap_cpu_features(old_cpu, "avx2_vnni").isa == "avx2");
  CpuFeatures skylake = every_feature();
  skylake.avx512_vnni = skylake.avx512_bf16 = skylake.amx_bf16 = skylake.amx_int8 = skylake.avx2_vnni = false;
  skylake.isa = "avx512_core";
  CHECK(util::cap_cpu_features(skylake, "avx2_vnni").isa == "avx2");
}

TEST_CASE("an unknown JINA3_MAX_CPU_ISA value is InvalidArgument naming the accepted ones", "[unit][kernel_report]") {
  for (const char* bad : {"avx512", "amx", "avx512_core_bf16 ", "x"}) {
    INFO(bad);
    try {
      util::cap_cpu_features(every_feature(), bad);
      FAIL("no exception");
    } catch (const InvalidArgument& e) {
      CHECK_THAT(e.what(), Catch::Contains("JINA3_MAX_CPU_ISA") && Catch::Contains("avx512_core_bf16") &&
                               Catch::Contains("avx2_vnni") && Catch::Contains("sse41"));
    }
  }
}

TEST_CASE("detected features are consistent with their isa", "[unit][kernel_report]") {
  const CpuFeatures f = util::detect_cpu_features();
  INFO(f.isa);
  bool known = false;
  for (std::string_view name : util::kCpuIsaNames) known = known || name == f.isa;
  CHECK(known);
  if (f.avx512_bf16 || f.avx512_vnni) CHECK(f.avx512);
  if (f.avx512) CHECK(f.isa.rfind("avx512_core", 0) == 0);
  if (f.amx_bf16 && f.amx_int8 && f.avx512_vnni && f.avx512_bf16) CHECK(f.isa == "avx512_core_amx");
  CHECK(util::bf16_native() == util::cpu_features().bf16_native());
}

TEST_CASE("the int8 ISA follows oneDNN's int8 order", "[unit][kernel_report]") {
  CpuFeatures f = every_feature();
  CHECK(util::int8_isa(f) == "avx512_core_amx");
  f.amx_int8 = false;
  CHECK(util::int8_isa(f) == "avx512_core_vnni");
  f.avx512_vnni = false;
  CHECK(util::int8_isa(f) == "avx2_vnni");
  f.avx2_vnni = false;
  CHECK(util::int8_isa(f) == "avx512_core");
  f.avx512 = false;
  CHECK(util::int8_isa(f) == "avx2");
}

TEST_CASE("the kernel report of each dtype and device", "[unit][kernel_report]") {
  const CpuFeatures all = every_feature();
  const CpuFeatures emulated = util::cap_cpu_features(all, "avx512_core_vnni");
  util::KernelFacts facts;

  SECTION("bfloat16 on a CPU with AVX512-BF16: jina3's kernel for few rows, no notice") {
    facts.package_dtype = facts.compute_dtype = DType::BFloat16;
    facts.jina3_kernels = true;
    const KernelReport r = util::kernel_report(facts, all);
    CHECK(r.device == "cpu");
    CHECK(r.isa == "avx512_core_amx");
    CHECK(r.bf16 == "native");
    CHECK(r.compute_dtype == "bfloat16");
    CHECK(r.matmul == "oneDNN bf16 + jina3 avx512_bf16 (<= 48 rows)");
    CHECK(r.int8_engine.empty());
    CHECK(r.notice.empty());
    facts.jina3_kernels = false;  // a package of LibTorch operators only
    CHECK(util::kernel_report(facts, all).matmul == "oneDNN bf16");
  }
  SECTION("bfloat16 where it is emulated: the notice names the ISA and the int8 export") {
    facts.package_dtype = facts.compute_dtype = DType::BFloat16;
    facts.jina3_kernels = true;
    const KernelReport r = util::kernel_report(facts, emulated);
    CHECK(r.bf16 == "emulated");
    CHECK(r.isa == "avx512_core_vnni");
    CHECK_THAT(r.matmul, Catch::Contains("emulated"));
    CHECK_THAT(r.notice,
               Catch::StartsWith("bfloat16 is emulated on this CPU (avx512_core_vnni: no AVX512-BF16 or AMX)") &&
                   Catch::Contains("--dtype int8") && Catch::Contains("python3 -m jina3.export"));
    CHECK(r.notice == util::bf16_emulation_notice(emulated));
    // A float32 package run as bfloat16 computes in emulated bfloat16 too.
    facts.package_dtype = DType::Float32;
    CHECK_FALSE(util::kernel_report(facts, emulated).notice.empty());
  }
  SECTION("float32: LibTorch, no notice even where bfloat16 is emulated") {
    const KernelReport r = util::kernel_report(facts, emulated);
    CHECK(r.matmul == "LibTorch float32");
    CHECK(r.compute_dtype == "float32");
    CHECK(r.notice.empty());
  }
  SECTION("int8: oneDNN, its engine reported, no notice") {
    facts.package_dtype = DType::Int8;
    facts.compute_dtype = DType::Float32;
    facts.int8_engine = "oneDNN x.y brg:avx512_core_vnni";
    const KernelReport r = util::kernel_report(facts, emulated);
    CHECK(r.matmul == "oneDNN int8");
    CHECK(r.int8_engine == "oneDNN x.y brg:avx512_core_vnni");
    CHECK(r.notice.empty());
  }
  SECTION("CUDA: bf16 n/a, no notice") {
    facts.on_cpu = false;
    facts.device = "cuda:1";
    facts.package_dtype = facts.compute_dtype = DType::BFloat16;
    const KernelReport r = util::kernel_report(facts, emulated);
    CHECK(r.device == "cuda:1");
    CHECK(r.bf16 == "n/a");
    CHECK(r.matmul == "LibTorch CUDA (cuBLAS) bfloat16");
    CHECK(r.notice.empty());
  }
}

TEST_CASE("Encoder::kernels() of the bfloat16, float32 and int8 packages", "[kernel_report]") {
  const CpuFeatures& cpu = util::cpu_features();
  const bool native = cpu.bf16_native();
  const char* cap = std::getenv("JINA3_MAX_CPU_ISA");
  INFO("isa " << cpu.isa << ", JINA3_MAX_CPU_ISA " << (cap ? cap : "(unset)"));

  const KernelReport bf16 = test::shared_encoder("bfloat16").kernels();
  CHECK(bf16.device == "cpu");
  CHECK(bf16.isa == cpu.isa);
  CHECK(bf16.bf16 == (native ? "native" : "emulated"));
  CHECK(bf16.compute_dtype == "bfloat16");
  CHECK(bf16.compute_dtype == to_string(test::shared_encoder("bfloat16").dtype()));
  CHECK_THAT(bf16.matmul, Catch::StartsWith(cpu.avx512 ? "oneDNN bf16" : "LibTorch bf16"));
  if (native && cpu.avx512_bf16) CHECK_THAT(bf16.matmul, Catch::Contains("jina3 avx512_bf16"));
  CHECK(bf16.int8_engine.empty());
  CHECK(bf16.notice == (native ? std::string() : util::bf16_emulation_notice(cpu)));

  const KernelReport f32 = test::shared_encoder("float32").kernels();
  CHECK(f32.compute_dtype == "float32");
  CHECK(f32.matmul == "LibTorch float32");
  CHECK(f32.bf16 == bf16.bf16);
  CHECK(f32.notice.empty());

  const Encoder& int8_encoder = test::shared_encoder("int8");
  const KernelReport int8 = int8_encoder.kernels();
  CHECK(to_string(int8_encoder.dtype()) == std::string("int8"));
  CHECK(int8.compute_dtype == (native ? "bfloat16" : "float32"));  // the layers around the int8 products
  CHECK(int8.matmul == "oneDNN int8");
  CHECK_THAT(int8.int8_engine, Catch::Contains("oneDNN"));
  CHECK(int8.notice.empty());

  // The report is fixed at load: the same every time.
  CHECK(test::shared_encoder("bfloat16").kernels().matmul == bf16.matmul);
}

TEST_CASE("a moved-from encoder's kernels() throws", "[kernel_report]") {
  Encoder encoder(test::package_dir("float32").string());
  Encoder moved(std::move(encoder));
  CHECK(moved.kernels().device == "cpu");
  CHECK_THROWS_AS(encoder.kernels(), InvalidArgument);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("with JINA3_MAX_CPU_ISA=avx512_core a bfloat16 package is emulated and says so", "[.kernel_report_capped]") {
  const char* cap = std::getenv("JINA3_MAX_CPU_ISA");
  REQUIRE(cap != nullptr);
  REQUIRE(std::string(cap) == "avx512_core");  // set by ctest (cpp.kernel_report_capped)
  const CpuFeatures expected = capped_here();
  CHECK(util::cpu_features().isa == expected.isa);
  CHECK_FALSE(util::cpu_features().bf16_native());

  Encoder encoder(test::package_dir("bfloat16").string());
  const KernelReport r = encoder.kernels();
  CHECK(r.isa == expected.isa);  // "avx512_core" on any AVX-512 machine
  if (util::detect_cpu_features().avx512) CHECK(r.isa == "avx512_core");
  CHECK(r.bf16 == "emulated");
  CHECK_THAT(r.notice, Catch::StartsWith("bfloat16 is emulated on this CPU (" + expected.isa + ":") &&
                           Catch::Contains("--dtype int8"));
  // It still encodes.
  const Embeddings rows = encoder.encode({"hello"});
  CHECK(rows.rows == 1);

  // The int8 package has no notice, and its engine is named.
  Encoder int8_encoder(test::package_dir("int8").string());
  CHECK(int8_encoder.kernels().notice.empty());
  CHECK(int8_encoder.kernels().bf16 == "emulated");
  CHECK(int8_encoder.kernels().compute_dtype == "float32");  // not emulated bfloat16
}

TEST_CASE("an unknown JINA3_MAX_CPU_ISA value fails every load", "[.kernel_report_bad_cap]") {
  const char* cap = std::getenv("JINA3_MAX_CPU_ISA");
  REQUIRE(cap != nullptr);
  REQUIRE(std::string(cap) == "avx512_bogus");  // set by ctest (cpp.kernel_report_bad_cap)
  CHECK_THROWS_WITH(Encoder(test::package_dir("float32").string()),
                    Catch::Contains("JINA3_MAX_CPU_ISA=\"avx512_bogus\" is not an ISA name") &&
                        Catch::Contains("avx512_core_bf16"));
  CHECK_THROWS_AS(Encoder(test::package_dir("float32").string()), InvalidArgument);
  CHECK_THROWS_AS(util::check_cpu_isa_cap(), InvalidArgument);
  // The kernels see the hardware's features meanwhile: as if unset.
  CHECK(util::cpu_features().isa == util::detect_cpu_features().isa);
}
