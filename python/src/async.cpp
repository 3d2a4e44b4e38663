// Encoder::encode_async for asyncio. The encoder's worker thread must never wait for the GIL (a
// busy interpreter would then stall every caller's forward passes), so on_ready only queues the
// finished request for one dispatcher thread per process. That thread takes the GIL, turns the
// result into an array (or the error into its exception) and resolves the caller's asyncio future
// with loop.call_soon_threadsafe, the one asyncio call that is safe from another thread.
//
// Interpreter exit: an atexit hook stops the dispatcher and joins it while Python still runs, so
// it never asks for the GIL during finalisation (where that call would end the thread in the
// middle of C++ frames). Requests that finish after that are dropped without touching Python.
#include "async.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "gil.hpp"

namespace jina3::python {
namespace {

// One request between encode_async and its asyncio future. The dispatcher may read result only
// after two events: on_ready (the result is there) and the submitting thread storing the future
// that encode_async returned. on_ready can come first, even before encode_async returns, so
// whichever of the two arrives second hands the request on.
struct Pending {
  py::object loop;
  py::object future;
  std::shared_ptr<EncodeHandle> result;  // shared with the future's cancel callback
  std::atomic<int> arrivals{0};
};

// Sets the future's result or exception on the loop's thread, unless the future is already done:
// the awaiting task was cancelled, and the result is dropped.
void resolve(py::handle future, bool ok, py::handle value) {
  if (future.attr("done")().cast<bool>()) return;
  future.attr(ok ? "set_result" : "set_exception")(value);
}

class Dispatcher {
 public:
  // Needs the GIL. Not freed at exit (never destroyed): the thread and the Python object would
  // otherwise be torn down after the interpreter.
  explicit Dispatcher(py::object resolver) : resolver_(std::move(resolver)) {}

  // Starts the thread on first use. Needs the GIL; raises RuntimeError after stop().
  void start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw std::runtime_error("jina3: encode_async called while the interpreter is exiting");
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }

  // The two arrivals of a request (see Pending). Never takes the GIL; called from on_ready.
  void arrive(Pending* pending) noexcept {
    if (pending->arrivals.fetch_add(1, std::memory_order_acq_rel) != 1) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(pending);  // after stop(), never delivered (and never freed: Python is gone)
    }
    wake_.notify_one();
  }

  // The atexit hook, with the GIL: the thread finishes what it is delivering and exits.
  void stop() {
    std::vector<Pending*> left;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      left.swap(queue_);
    }
    wake_.notify_one();
    if (thread_.joinable()) without_gil([this] { thread_.join(); });  // it may be waiting for the GIL
    for (Pending* pending : left) delete pending;  // their loops are done; the GIL frees the objects
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      std::vector<Pending*> batch;
      batch.swap(queue_);
      lock.unlock();
      if (interpreter_is_finalizing()) return;  // no atexit ran (embedded use): leave them be
      const PyGILState_STATE gil = PyGILState_Ensure();
      for (Pending* pending : batch) {
        deliver(*pending);
        delete pending;
      }
      PyGILState_Release(gil);
      lock.lock();
    }
  }

  // With the GIL. Nothing may escape: this runs on a thread no Python code called.
  void deliver(Pending& pending) noexcept {
    try {
      bool ok = true;
      py::object value;
      try {
        Embeddings result = pending.result->get();
        value = embeddings_array(std::move(result));
      } catch (...) {
        ok = false;
        value = exception_object(std::current_exception());
      }
      pending.loop.attr("call_soon_threadsafe")(resolver_, pending.future, ok, value);
    } catch (py::error_already_set&) {
      // call_soon_threadsafe raises once the loop is closed: nobody can await the future any more.
    } catch (...) {
    }
  }

  const py::object resolver_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Pending*> queue_;  // requests ready for delivery
  bool stopping_ = false;
  std::thread thread_;
};

Dispatcher* dispatcher = nullptr;  // created at import, under the import lock

}  // namespace

void submit_to_future(py::handle loop, py::handle future, const AsyncSubmit& submit) {
  dispatcher->start();
  auto pending = std::make_unique<Pending>();
  pending->loop = py::reinterpret_borrow<py::object>(loop);
  pending->future = py::reinterpret_borrow<py::object>(future);
  Pending* request = pending.get();
  // If submit throws, on_ready is never called and pending frees the request, with the GIL again.
  auto handle = std::make_shared<EncodeHandle>(
      without_gil([&] { return submit([request] { dispatcher->arrive(request); }); }));
  request->result = handle;
  // A cancelled asyncio future (its awaiting task was cancelled) cancels the request in the core:
  // its queued rows leave the queue. The callback holds the handle, not the Pending, which the
  // dispatcher may free first. Cancelling a request that already completed does nothing.
  pending->future.attr("add_done_callback")(py::cpp_function([handle](py::handle done) {
    if (done.attr("cancelled")().cast<bool>()) handle->cancel();
  }));
  dispatcher->arrive(pending.release());
}

void init_async() {
  if (dispatcher != nullptr) return;  // one per process, even if the module is initialised again
  dispatcher = new Dispatcher(py::cpp_function(&resolve, py::arg("future"), py::arg("ok"), py::arg("value")));
  py::module_::import("atexit").attr("register")(py::cpp_function([] { dispatcher->stop(); }));
}

}  // namespace jina3::python
