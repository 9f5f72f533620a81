#pragma once
// saga-http on the runtime: a deferred handler. Each command starts an
// asynchronous call to its participant; the reply is written when the call
// finishes, while later commands are read. At most `max_in_flight` calls run
// at once (the worker stops reading at the limit). A command's offset is
// committed only after its reply is acknowledged, so a crash repeats the
// call (same idempotency key) and never loses a reply.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cf/http_client.h"
#include "cf/worker.h"
#include "participant_call.h"

namespace cf {

struct SagaHttpSettings {
  std::string replies_topic = "saga.replies";
  int call_timeout_ms = 5000;
  size_t max_in_flight = 2000;
};

class SagaHttpHandler : public RecordHandler {
 public:
  SagaHttpHandler(Participants participants, SagaHttpSettings settings, HttpClient& client);
  /// Stops the client first: its callbacks refer to this handler.
  ~SagaHttpHandler() override { client_.shutdown(); }

  void handle(const InputRecord&, std::vector<OutputRecord>&) override {}
  bool deferred() const override { return true; }
  void start(const InputRecord& input, uint64_t ticket) override;
  void take_finished(
      std::vector<std::pair<uint64_t, std::vector<OutputRecord>>>& finished) override;
  bool saturated() const override { return in_flight_.load() >= settings_.max_in_flight; }
  void maintain(int64_t, const std::function<bool()>&, const std::function<bool()>&) override;

 private:
  Participants participants_;
  SagaHttpSettings settings_;
  HttpClient& client_;
  std::atomic<size_t> in_flight_{0};
  std::mutex mutex_;
  std::vector<std::pair<uint64_t, std::vector<OutputRecord>>> finished_;  ///< guarded by mutex_
};

}  // namespace cf
