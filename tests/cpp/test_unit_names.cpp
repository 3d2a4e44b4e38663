// Canonical names of tasks, devices, dtypes and error codes; the version.
#include <catch2/catch.hpp>

#include <string>

#include <jina3/jina3.hpp>

using namespace jina3;

TEST_CASE("task names round-trip", "[unit][names]") {
  for (Task task : {Task::None, Task::RetrievalQuery, Task::RetrievalPassage, Task::Separation, Task::Classification,
                    Task::TextMatching}) {
    CHECK(task_from_string(to_string(task)) == task);
  }
  CHECK(std::string(to_string(Task::RetrievalQuery)) == "retrieval.query");
  CHECK(std::string(to_string(Task::TextMatching)) == "text-matching");
  CHECK(task_from_string("") == Task::None);
  CHECK(task_from_string("none") == Task::None);
  // Stable ABI values shared with C.
  CHECK(static_cast<int>(Task::None) == -1);
  CHECK(static_cast<int>(Task::TextMatching) == 4);
}

TEST_CASE("unknown task names are InvalidArgument listing the valid ones", "[unit][names]") {
  for (const char* bad : {"retrieval", "Retrieval.Query", "text_matching", " separation", "classification\n", "xx"}) {
    INFO(bad);
    try {
      task_from_string(bad);
      FAIL("no exception");
    } catch (const InvalidArgument& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("retrieval.query") && Catch::Contains("text-matching"));
    }
  }
}

TEST_CASE("device names", "[unit][names]") {
  int index = -5;
  CHECK(device_from_string("cpu", &index) == Device::CPU);
  CHECK(index == 0);
  CHECK(device_from_string("cuda", &index) == Device::CUDA);
  CHECK(index == 0);
  CHECK(device_from_string("cuda:3", &index) == Device::CUDA);
  CHECK(index == 3);
  CHECK(device_from_string("cuda:12") == Device::CUDA);
  for (const char* bad : {"", "CPU", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1a", "cuda:123456"}) {
    INFO(bad);
    CHECK_THROWS_AS(device_from_string(bad), InvalidArgument);
  }
  CHECK(std::string(to_string(Device::CUDA)) == "cuda");
}

TEST_CASE("dtype names", "[unit][names]") {
  for (DType dtype : {DType::Auto, DType::Float32, DType::BFloat16, DType::Float16, DType::Int8}) {
    CHECK(dtype_from_string(to_string(dtype)) == dtype);
  }
  CHECK(std::string(to_string(DType::BFloat16)) == "bfloat16");
  CHECK_THROWS_AS(dtype_from_string("fp32"), InvalidArgument);
  CHECK_THROWS_AS(dtype_from_string("half"), InvalidArgument);
}

TEST_CASE("error codes have stable values and names", "[unit][names]") {
  CHECK(static_cast<int>(ErrorCode::InvalidArgument) == 1);
  CHECK(static_cast<int>(ErrorCode::Internal) == 9);
  CHECK(std::string(to_string(ErrorCode::Ok)) == "ok");
  CHECK(std::string(to_string(ErrorCode::InputTooLong)) == "input_too_long");
  CHECK(std::string(to_string(ErrorCode::Device)) == "device");
  CHECK(std::string(to_string(ErrorCode::BufferTooSmall)) == "buffer_too_small");
  CHECK(DeviceError("x").code() == ErrorCode::Device);
  CHECK(ModelNotFound("x").code() == ErrorCode::ModelNotFound);
  // The serving codes, appended after Internal (jina3.h: JINA3_ERR_QUEUE_FULL ... JINA3_ERR_CANCELLED).
  CHECK(static_cast<int>(ErrorCode::QueueFull) == 10);
  CHECK(static_cast<int>(ErrorCode::DeadlineExceeded) == 11);
  CHECK(static_cast<int>(ErrorCode::Cancelled) == 12);
  CHECK(std::string(to_string(ErrorCode::QueueFull)) == "queue_full");
  CHECK(std::string(to_string(ErrorCode::DeadlineExceeded)) == "deadline_exceeded");
  CHECK(std::string(to_string(ErrorCode::Cancelled)) == "cancelled");
  CHECK(std::string(to_string(static_cast<ErrorCode>(13))) == "unknown");
  CHECK(QueueFull("x").code() == ErrorCode::QueueFull);
  CHECK(DeadlineExceeded("x").code() == ErrorCode::DeadlineExceeded);
  CHECK(Cancelled("x").code() == ErrorCode::Cancelled);
  // Each is a jina3::Error, so one catch clause sees every failure.
  try {
    throw Cancelled("encoder destroyed");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Cancelled);
    CHECK(std::string(e.what()) == "encoder destroyed");
  }
}

TEST_CASE("version string matches the version macros", "[unit][names]") {
  const std::string expected = std::to_string(JINA3_VERSION_MAJOR) + "." + std::to_string(JINA3_VERSION_MINOR) + "." +
                               std::to_string(JINA3_VERSION_PATCH);
  CHECK(std::string(version()) == expected);
  CHECK(std::string(JINA3_VERSION_STRING) == expected);
}
